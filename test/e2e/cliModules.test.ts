import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cliEntry, writeConfig } from '../helpers/processes.js';

/** The CLI process's memory: what it loads, and the young generation a sidecar runs with. */

/** Preloaded into the child: at exit, prints whether Node's bundled undici was ever loaded. */
const REPORT_UNDICI = `data:text/javascript,process.on('exit', () => process.stderr.write('undici loaded: ' + process.moduleLoadList.some((m) => m.includes('undici')) + '\\n'));`;

/** Preloaded into the child: at exit, prints its pid and the Node options it runs with. */
const REPORT_OPTIONS = `data:text/javascript,process.on('exit', () => process.stderr.write('pid ' + process.pid + ' options: ' + process.execArgv.filter((a) => a.startsWith('--max')).join(' ') + '\\n'));`;

function run(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string; pid: number | undefined }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr, pid: child.pid })));
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

  it('runs `sidecar` in the same process restarted with an 8 MiB young generation, its exit code and messages unchanged', async () => {
    const { file } = writeConfig({ admin: { port: 0 }, upstreams: [{ name: 'web', local_port: 'abc' }] });
    const result = await run(['--import', REPORT_OPTIONS, cliEntry(), 'sidecar', '-c', file]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('upstreams[0].local_port');
    expect(result.stderr).toContain(`pid ${result.pid} options: --max-semi-space-size=8`);
  });

  it("leaves the young generation alone when NODE_OPTIONS sets it, and for commands other than `sidecar`", async () => {
    const { file } = writeConfig({ admin: { port: 0 }, upstreams: [{ name: 'web', local_port: 'abc' }] });
    const chosen = await run(['--import', REPORT_OPTIONS, cliEntry(), 'sidecar', '-c', file], { ...process.env, NODE_OPTIONS: '--max-semi-space-size=4' });
    expect(chosen.code, chosen.stderr).toBe(2);
    expect(chosen.stderr).toContain(`pid ${chosen.pid} options: \n`);
    const validate = await run(['--import', REPORT_OPTIONS, cliEntry(), 'validate', '-c', file]);
    expect(validate.code, validate.stderr).toBe(2);
    expect(validate.stderr).toContain(`pid ${validate.pid} options: \n`);
  });
});
