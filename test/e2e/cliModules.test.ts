import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cliEntry, writeConfig } from '../helpers/processes.js';

/** What the CLI process loads: what it does not need stays out of its memory. */

/** Preloaded into the child: at exit, prints whether Node's bundled undici was ever loaded. */
const REPORT_UNDICI = `data:text/javascript,process.on('exit', () => process.stderr.write('undici loaded: ' + process.moduleLoadList.some((m) => m.includes('undici')) + '\\n'));`;

function run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('the CLI process', () => {
  it("loads the whole sidecar (validate imports it all) without Node's undici, which node:http's ES-module face would load", async () => {
    const { file } = writeConfig({ admin: { port: 0 }, discovery: { static: { file: 'endpoints.yaml' } }, upstreams: [{ name: 'web', local_port: 0 }] }, { web: ['127.0.0.1:1'] });
    const result = await run(['--import', REPORT_UNDICI, cliEntry(), 'validate', '-c', file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('valid (1 upstream(s))');
    expect(result.stderr).toContain('undici loaded: false');
  });

  it("leaves node:http's WebSocket, CloseEvent and MessageEvent working for code that asks for them", async () => {
    const facade = new URL('../../dist/sidecar/core/httpFacade.js', import.meta.url).href;
    const script = [
      `const { importHttpWithoutUndici } = await import(${JSON.stringify(facade)});`,
      'await importHttpWithoutUndici();',
      "const http = await import('node:http');",
      "const { createRequire } = await import('node:module');",
      "const cjs = createRequire(import.meta.url)('node:http');",
      "console.log([typeof http.createServer, typeof cjs.WebSocket, typeof cjs.CloseEvent, typeof cjs.MessageEvent, cjs.WebSocket === globalThis.WebSocket].join(' '));",
    ].join('\n');
    const result = await run(['--input-type=module', '-e', script]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('function function function function true');
  });
});
