import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { consulTestServer } from '../helpers/consul/index.js';
import { runCli, spawnSidecar } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** `tandem wait-ready` as a real process, against real sidecar processes. */

/**
 * A port on 127.0.0.1 held by a stand-in that drops every connection, until `release()`: it tells
 * when a client has tried it, and the port stays ours until the sidecar is about to bind it.
 */
async function standIn(): Promise<{ port: number; attempts: () => number; release: () => Promise<void> }> {
  let attempts = 0;
  const server = createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const release = (): Promise<void> => new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  onCleanup(release);
  return { port: (server.address() as AddressInfo).port, attempts: () => attempts, release };
}

/** A port nothing listens on right now (bound and released by this process). */
async function freePort(): Promise<number> {
  const { port, release } = await standIn();
  await release();
  return port;
}

describe('tandem wait-ready', () => {
  it('started before the sidecar, keeps polling and exits 0 printing ready once the sidecar is ready', async () => {
    const admin = await standIn();
    const waiting = runCli(['wait-ready', '--admin', `http://127.0.0.1:${admin.port}`, '--timeout', '10s'], 15_000);
    // wait-ready has polled (and been turned away) before any sidecar exists.
    await waitFor('wait-ready to poll the admin port', () => admin.attempts() > 0);
    await admin.release();

    const sidecar = await spawnSidecar({ upstreams: [{ name: 'web', local_port: 0 }] }, { web: ['127.0.0.1:1'] }, { adminPort: admin.port });
    expect(sidecar.port('admin')).toBe(admin.port);

    const result = await waiting;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`ready (http://127.0.0.1:${admin.port})\n`);
    expect(result.stderr).toBe('');
  });

  it('exits 1 after --timeout naming the reason the sidecar gives for not being ready', async () => {
    const consul = await consulTestServer();
    consul.server.faults.failWith(500, { pathPrefix: '/v1/health/' });
    const sidecar = await spawnSidecar({ discovery: { consul: { address: consul.address, wait: '5s' } }, upstreams: [{ name: 'orders', local_port: 0 }] });
    const admin = sidecar.port('admin');

    const startedAt = performance.now();
    const result = await runCli(['wait-ready', '--admin', `http://127.0.0.1:${admin}`, '--timeout', '1s']);
    const tookMs = performance.now() - startedAt;

    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(`tandem wait-ready: not ready after 1s at http://127.0.0.1:${admin}: 503 not ready: - upstream orders: discovery has not answered yet`);
    expect(result.stdout).toBe('');
    expect(tookMs).toBeGreaterThanOrEqual(1_000); // it polled for the whole timeout, not just once
    // Control: the sidecar was up and asked Consul, which refused; wait-ready did not fail to reach it.
    expect(consul.server.requests.some((r) => r.path === '/v1/health/service/orders' && r.status === 500)).toBe(true);
  });

  it('exits 1 after --timeout naming ECONNREFUSED when nothing listens on the admin port', async () => {
    const port = await freePort();
    const result = await runCli(['wait-ready', '--admin', `http://127.0.0.1:${port}`, '--timeout', '1s']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toBe(`tandem wait-ready: not ready after 1s at http://127.0.0.1:${port}: ECONNREFUSED\n`);
    expect(result.stdout).toBe('');
  });

  it.each([
    { what: 'a --timeout that is not a duration', args: ['--timeout', 'soon'], message: 'tandem wait-ready: --timeout: expected a duration such as "60s", got "soon"' },
    { what: 'an --admin URL that is not http://', args: ['--admin', 'https://127.0.0.1:9901'], message: 'tandem wait-ready: --admin: expected an http:// URL (got "https://127.0.0.1:9901")' },
  ])('exits 2 for $what', async ({ args, message }) => {
    const result = await runCli(['wait-ready', ...args]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toBe(`${message}\n`);
    expect(result.stdout).toBe('');
  });
});
