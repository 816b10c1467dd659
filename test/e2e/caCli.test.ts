import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { callCa, certificateText, createTestCa, snapshotDir, spiffeUri, workloadCsr } from '../helpers/ca.js';
import { onCleanup } from '../helpers/cleanup.js';
import { cliEntry, runCli } from '../helpers/processes.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** `tandem ca …` as real processes: init, token, serve over HTTPS, revoke-token, rotate, retire, show, and bad usage. */

const LISTENING = /^CA listening on https:\/\/127\.0\.0\.1:(\d+)$/m;

/** A folder removed after the test; the CA directory goes inside it, so `init` creates it. */
function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-ca-e2e-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function ok(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  const result = await runCli(args);
  expect(result.code, `tandem ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result;
}

interface Serving {
  readonly port: number;
  readonly bundle: string;
  /** Sends `signal`, resolves with the exit code (null if the signal killed it); rejects if it has not exited within 10 s. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

/** `tandem ca serve --port 0`, resolved once it prints the port it listens on; SIGKILLed after the test if still running. */
async function serve(dir: string): Promise<Serving> {
  const child = spawn(process.execPath, [cliEntry(), 'ca', 'serve', '--dir', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let running = true;
  void exited.then(() => (running = false));
  await waitFor('ca serve to print its port', () => LISTENING.test(stdout) || !running, 10_000);
  const match = LISTENING.exec(stdout);
  if (match === null) throw new Error(`tandem ca serve exited before listening; stderr:\n${stderr}`);
  return {
    port: Number(match[1]),
    bundle: readFileSync(join(dir, 'bundle.pem'), 'utf8'),
    async stop(signal) {
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`tandem ca serve did not exit within 10 s of ${signal}; stderr:\n${stderr}`)), 10_000);
      });
      try {
        return await Promise.race([exited, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

async function sign(served: Serving, uri: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return callCa(served.port, served.bundle, { csr: (await workloadCsr(uri)).csr, token });
}

describe('tandem ca', () => {
  it('init, token and serve: signs a CSR with the printed token, leaves living --leaf-ttl; SIGTERM stops serve with exit 0', async () => {
    const dir = join(workDir(), 'ca');
    const init = await ok(['ca', 'init', '--dir', dir, '--trust-domain', 'example.org', '--leaf-ttl', '2h']);
    expect(init.stdout).toBe(`CA created in ${dir} for trust domain example.org (ecdsa-p256); trust bundle: ${dir}/bundle.pem\n`);
    const uri = spiffeUri('orders', 'prod');
    const [issued, served] = await Promise.all([ok(['ca', 'token', '--dir', dir, '--service', 'orders', '--namespace', 'prod']), serve(dir)]);
    expect(issued.stdout).toMatch(/^tandem-join\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    expect(issued.stderr).toMatch(new RegExp(`^join token [0-9a-f]{32} for ${uri}, expires `));

    const answer = await sign(served, uri, issued.stdout.trim());
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body['spiffe_id']).toBe(uri);
    const text = certificateText(answer.body['certificate_chain_pem'] as string);
    const notBefore = Date.parse(/Not Before: (.+GMT)/.exec(text)?.[1] ?? '');
    const notAfter = Date.parse(/Not After : (.+GMT)/.exec(text)?.[1] ?? '');
    expect((notAfter - notBefore) / 1000).toBe(2 * 3600 + 60);
    expect(await served.stop('SIGTERM')).toBe(0);
  });

  it('refuses, while serve runs, a token revoked with revoke-token and a token made with --ttl 1s once it has expired', async () => {
    const ca = await createTestCa();
    const [served, long, short] = await Promise.all([
      serve(ca.dir),
      ok(['ca', 'token', '--dir', ca.dir, '--service', 'web']),
      ok(['ca', 'token', '--dir', ca.dir, '--service', 'web', '--ttl', '1s']).then((result) => ({ ...result, printedAt: Date.now() })),
    ]);
    const revoked = await ok(['ca', 'revoke-token', '--dir', ca.dir, '--token', long.stdout.trim()]);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked join token [0-9a-f]{32} \\(${spiffeUri('web')}\\)\n$`));
    const refused = await sign(served, spiffeUri('web'), long.stdout.trim());
    expect(refused.status).toBe(401);
    expect(refused.body['error']).toMatch(/^join token [0-9a-f]{32} is revoked$/);

    await sleep(Math.max(0, short.printedAt + 1_100 - Date.now()));
    const expired = await sign(served, spiffeUri('web'), short.stdout.trim());
    expect(expired.status).toBe(401);
    expect(expired.body['error']).toContain('expired at');
  });

  it('rotate and retire change the running server’s bundle; show lists the roots', async () => {
    const ca = await createTestCa();
    const served = await serve(ca.dir);
    // Trusting the bundle as published now: once root-1 is retired, the server's certificate no longer chains to it.
    const index = async (): Promise<unknown> => (await callCa(served.port, readFileSync(join(ca.dir, 'bundle.pem'), 'utf8'), { path: '/v1/health' })).body['bundle_index'];

    expect((await ok(['ca', 'rotate', '--dir', ca.dir])).stdout).toMatch(/^new root [0-9a-f]+ signs from now on; the bundle holds 2 roots \(index 2\)\n$/);
    const [shown] = await Promise.all([ok(['ca', 'show', '--dir', ca.dir]), waitFor('serve to load the rotated CA', async () => (await index()) === 2, 5_000, 50)]);
    const lines = shown.stdout.split('\n');
    expect(lines[0]).toBe('trust domain example.org (ecdsa-p256), leaf TTL 86400 s, bundle index 2');
    expect(lines.slice(1).map((line) => line.trim().split(/ +/)[0])).toEqual(['trusted', 'active', '']);

    const retire = await ok(['ca', 'retire', '--dir', ca.dir]);
    expect(retire.stdout).toBe('retired root-1; the bundle holds 1 root (index 3)\n');
    expect(retire.stderr).toContain('less than the leaf TTL'); // the new root is seconds old
    await waitFor('serve to load the retired CA', async () => (await index()) === 3, 5_000, 50);
  });

  it('init makes an RSA CA with --key-type rsa-2048', async () => {
    const dir = join(workDir(), 'ca');
    expect((await ok(['ca', 'init', '--dir', dir, '--trust-domain', 'example.org', '--key-type', 'rsa-2048'])).stdout).toContain('(rsa-2048)');
    const root = certificateText(readFileSync(join(dir, 'root-1.pem'), 'utf8'));
    expect(root).toContain('Public-Key: (2048 bit)');
    expect(root).toContain('Signature Algorithm: sha256WithRSAEncryption');
  });

  it('init refuses to overwrite an existing CA: exit 2, its files unchanged', async () => {
    const ca = await createTestCa();
    const before = snapshotDir(ca.dir);
    const result = await runCli(['ca', 'init', '--dir', ca.dir, '--trust-domain', 'other.org', '--key-type', 'rsa-2048']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`tandem ca init: ${ca.dir} already holds a CA; refusing to overwrite it`);
    expect(result.stdout).toBe('');
    expect(snapshotDir(ca.dir)).toEqual(before);
  });

  it('exits 2 on bad usage, naming the flag or what is wrong, and creates or changes nothing', async () => {
    const ca = await createTestCa();
    const fresh = join(workDir(), 'ca');
    const before = snapshotDir(ca.dir);
    // One case per flag check: each is a whole CLI start (~0.8 s of CPU), so they run side by side.
    const cases: ReadonlyArray<readonly [readonly string[], string]> = [
      [['init', '--dir', fresh], 'tandem ca init: --trust-domain DOMAIN is required'],
      [['init', '--dir', fresh, '--trust-domain', 'example.org', '--key-type', 'dsa'], '--key-type: expected one of ecdsa-p256, rsa-2048, got "dsa"'],
      [['init', '--dir', fresh, '--trust-domain', 'example.org', '--leaf-ttl', 'soon'], '--leaf-ttl: expected a duration such as "24h", got "soon"'],
      [['init', '--dir', fresh, '--trust-domain', 'example.org', '--frob'], "'--frob'"],
      [['serve', '--dir', ca.dir, '--port', '99999'], 'tandem ca serve: --port: expected a port number, got "99999"'],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['ca', ...args])));
    results.forEach((result, i) => {
      const [args, message] = cases[i] as (typeof cases)[number];
      const what = `tandem ca ${args.join(' ')}`;
      expect(result.code, `${what}: ${result.stderr}`).toBe(2);
      expect(result.stderr, what).toContain(message);
      expect(result.stdout, what).toBe('');
    });
    expect(existsSync(fresh)).toBe(false);
    expect(snapshotDir(ca.dir)).toEqual(before);
  });
});
