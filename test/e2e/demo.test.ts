import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../dist/sidecar/cli/main.js', import.meta.url));

/** Command lines of running processes that mention `text` (Linux /proc). */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(text)) found.push(cmdline);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

describe('the demo mesh (npm start)', () => {
  it("balances greeter calls over three servers through four Tandems, over mutual TLS from its CA, prints the client Tandem's dashboard URL, and leaves no process behind", async () => {
    expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
    const child = spawn(process.execPath, [CLI, 'demo', '--duration', '3s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));

    expect(code, output).toBe(0);
    const perSecond = output.split('\n').filter((line) => /^t=\s*\d+s/.test(line));
    expect(perSecond.length, output).toBeGreaterThanOrEqual(2);
    for (const server of ['greeter-1', 'greeter-2', 'greeter-3']) {
      const answered = perSecond.map((line) => Number(new RegExp(`${server}:\\s+(\\d+)`).exec(line)?.[1] ?? 0));
      expect(Math.max(...answered), `${server} in:\n${output}`).toBeGreaterThan(0);
    }
    expect(output).toMatch(/Done: \d+ calls answered, 0 failed\./);
    // Each Tandem got its certificate from the demo's CA and printed its identity.
    expect(output.match(/: spiffe:\/\/demo\.tandem\/ns\/default\/svc\/greeter \(certificate/g), output).toHaveLength(3);
    expect(output, output).toMatch(/: spiffe:\/\/demo\.tandem\/ns\/default\/svc\/greeter-client \(certificate/);
    // The dashboard printed is the client Tandem's, whose upstream the calls go through.
    const clientAdmin = /Tandem on admin port (\d+): spiffe:\/\/demo\.tandem\/ns\/default\/svc\/greeter-client /.exec(output)?.[1];
    expect(clientAdmin, output).toBeDefined();
    expect(output).toContain(`\nDashboard: http://127.0.0.1:${clientAdmin}/dashboard\n`);
    const dir = /Endpoints file[^:]*: (\/\S+)\/endpoints\.yaml/.exec(output)?.[1];
    expect(dir, output).toBeDefined();
    expect(processesMentioning(dir as string)).toEqual([]);
    expect(existsSync(dir as string)).toBe(false);
  });
});
