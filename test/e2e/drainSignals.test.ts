import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request } from '../helpers/clients.js';
import { consulTestServer } from '../helpers/consul/index.js';
import { createServer, type AddressInfo } from 'node:net';
import { spawnCli, spawnSidecar, writeConfig, type SidecarProcess } from '../helpers/processes.js';
import { FrameType, RawHttp2Client } from '../helpers/rawHttp2.js';
import { waitFor } from '../helpers/wait.js';

/** How a drain starts, with a real process: signals, `POST /drain`, and what `/ready` says meanwhile. */

async function inboundSidecar(): Promise<SidecarProcess> {
  const app = await startHttp1Backend((_req, res) => res.end('app'));
  return spawnSidecar({ service: { name: 'app', port: app.port }, inbound: { port: 0 }, drain: { wait_before_drain: '1s', timeout: '5s' } });
}

/** The first `/ready` status other than 200, and when it came; polled every 10 ms. */
async function firstNotReady(admin: number, limitMs: number): Promise<{ status: number; at: number }> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    const { status } = await h1Request(admin, { path: '/ready' });
    if (status !== 200) return { status, at: performance.now() };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`/ready still 200 after ${limitMs} ms`);
}

describe('starting a drain', () => {
  it('on SIGTERM, /ready answers 503 within 100 ms while the inbound port still serves, and the process exits 0', async () => {
    const sidecar = await inboundSidecar();
    const admin = sidecar.port('admin');
    expect((await h1Request(admin, { path: '/ready' })).status).toBe(200);
    const stopped = sidecar.stop('SIGTERM');
    const signalled = performance.now();
    const notReady = await firstNotReady(admin, 2_000);
    expect(notReady.status).toBe(503);
    expect(notReady.at - signalled).toBeLessThan(100);
    // wait_before_drain: peers that have not learned yet are still served.
    expect((await h1Request(sidecar.port('inbound'), { path: '/' })).body.toString()).toBe('app');
    expect(await stopped).toBe(0);
  });

  it('on SIGTERM, leaves Consul before the first GOAWAY, which an HTTP/2 client sees as GOAWAY(2^31-1), PING, then the final GOAWAY', async () => {
    const consul = await consulTestServer();
    const app = await startHttp1Backend((_req, res) => res.end('app'));
    const sidecar = await spawnSidecar({
      service: { name: 'app', port: app.port },
      inbound: { port: 0 },
      discovery: { consul: { address: consul.address } },
      drain: { wait_before_drain: '300ms', timeout: '5s' },
    });
    await waitFor('the registration', async () => (await consul.control.health('app')).length === 1);
    const h2 = new RawHttp2Client(sidecar.port('inbound'));
    await h2.settled;
    const stopped = sidecar.stop('SIGTERM');
    await waitFor('the final GOAWAY', () => h2.goaways().length >= 2, 5_000);
    const [notice, ...finals] = h2.goaways();
    const deregistered = consul.server.requests.find((r) => r.method === 'PUT' && r.path.startsWith('/v1/agent/service/deregister/'));
    expect(deregistered?.receivedAt).toBeLessThan(notice?.at as number);
    expect(notice?.lastStreamId).toBe(2 ** 31 - 1);
    const ping = h2.frames.findIndex((f) => f.type === FrameType.Ping);
    expect(ping).toBeGreaterThan(h2.frames.indexOf(h2.frames.find((f) => f.type === FrameType.Goaway) as (typeof h2.frames)[number]));
    expect(h2.frames.findLastIndex((f) => f.type === FrameType.Goaway)).toBeGreaterThan(ping);
    expect(finals.map((goaway) => goaway.lastStreamId)).toEqual(finals.map(() => 0)); // Node may send it twice
    expect(await stopped).toBe(0);
  });

  it('drains on POST /drain from loopback, and refuses GET /drain with 405', async () => {
    const sidecar = await inboundSidecar();
    const admin = sidecar.port('admin');
    const get = await h1Request(admin, { path: '/drain' });
    expect(get.status).toBe(405);
    expect(get.headers['allow']).toBe('POST');
    expect((await h1Request(admin, { path: '/ready' })).status).toBe(200);

    const post = await h1Request(admin, { method: 'POST', path: '/drain' });
    expect(post.status).toBe(202);
    expect((await h1Request(admin, { path: '/ready' })).body.toString()).toContain('draining (shutdown)');
    expect(await sidecar.exited).toBe(0);
    expect(sidecar.stderr()).toMatch(/msg=drained mode=shutdown/);
  });

  it('exits at once, with 1, on a second signal during the drain', async () => {
    const sidecar = await inboundSidecar();
    const first = sidecar.stop('SIGTERM');
    await firstNotReady(sidecar.port('admin'), 2_000);
    expect(await sidecar.stop('SIGINT', 2_000)).toBe(1);
    expect(await first).toBe(1);
    expect(sidecar.stderr()).toContain('msg="second signal; exiting now" signal=SIGINT');
  });

  it('drains and exits 0 on a SIGTERM that arrives while it is still starting', async () => {
    const app = await startHttp1Backend((_req, res) => res.end('app'));
    const { file } = writeConfig({ admin: { port: 0 }, service: { name: 'app', port: app.port }, inbound: { port: 0 }, drain: { wait_before_drain: '0s' } });
    const run = spawnCli(['sidecar', '-c', file]);
    await waitFor('the admin port, bound first', () => run.stderr().includes('listener=admin'), 10_000);
    run.child.kill('SIGTERM');
    const exit = await run.exited;
    expect(exit, run.stderr()).toEqual({ code: 0, signal: null });
    expect(run.stderr()).toMatch(/msg=drained mode=shutdown/);
  });

  it('abandons a --replace takeover on SIGTERM before asking the running Tandem, which goes on', async () => {
    const consul = await consulTestServer();
    consul.server.faults.failWith(500, { pathPrefix: '/v1/health/' }); // the successor never gets ready
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const adminPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { file } = writeConfig({ admin: { port: adminPort }, discovery: { consul: { address: consul.address } }, upstreams: [{ name: 'web', local_port: 0 }] });
    const running = spawnCli(['sidecar', '-c', file]);
    await waitFor('the running Tandem to bind its admin port', () => running.stderr().includes('listener=admin'), 10_000);
    const successor = spawnCli(['sidecar', '-c', file, '--replace']);
    // Its first failed query is logged once its discovery runs: it is started, signal handlers in place.
    await waitFor('the successor to be waiting for discovery', () => successor.stderr().includes('msg="consul query failed'), 10_000);

    successor.child.kill('SIGTERM');
    expect((await successor.exited).code, successor.stderr()).toBe(0);
    expect(successor.stderr()).toContain('msg="takeover abandoned"');
    expect(successor.stderr()).not.toContain('listener bound');
    expect(consul.server.requests.some((r) => r.path.startsWith('/v1/agent/service/deregister'))).toBe(false);
    expect((await h1Request(adminPort, { path: '/live' })).status).toBe(200); // the running one, untouched
    expect(running.child.exitCode).toBeNull();
  });
});
