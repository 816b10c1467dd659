import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../../helpers/backends.js';
import { h1Request } from '../../helpers/clients.js';
import { consulTestServer } from '../../helpers/consul/control.js';
import { RawHttp1Connection } from '../../helpers/rawHttp1.js';
import { FrameType, RawHttp2Client } from '../../helpers/rawHttp2.js';
import { startSidecar } from '../../helpers/sidecar.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * The drain sequence on one in-process sidecar with an inbound listener, registered in the Consul
 * test server: readiness, deregistration, `wait_before_drain`, then the connections' goodbyes.
 */

const WAIT_BEFORE_DRAIN_MS = 400;
const SLOW_MS = 800;
/** Longer than the idle close (1 s): the drain is still waiting for it when idle connections close. */
const SLOWER_MS = 2_000;

async function inboundSidecar(): Promise<{ inbound: number; admin: number; consul: Awaited<ReturnType<typeof consulTestServer>>; drain: () => Promise<unknown> }> {
  const consul = await consulTestServer();
  const app = await startHttp1Backend((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), SLOW_MS);
    else if (req.url === '/slower') setTimeout(() => res.end('slower done'), SLOWER_MS);
    else res.end(`app ${req.url}`);
  });
  const mesh = await startSidecar({
    service: { name: 'app', port: app.port },
    inbound: { port: 0 },
    discovery: { consul: { address: consul.address } },
    drain: { wait_before_drain: `${WAIT_BEFORE_DRAIN_MS}ms`, timeout: '10s' },
  });
  await waitFor('the registration to pass', async () => (await consul.control.health('app')).some((row) => row.Checks.every((check) => check.Status === 'passing')));
  return { inbound: mesh.port('inbound'), admin: mesh.port('admin'), consul, drain: () => mesh.sidecar.drain() };
}

describe('drain', () => {
  it('fails readiness at once, deregisters before the first GOAWAY, and sends GOAWAY(2^31-1), PING, then the final GOAWAY naming the last stream', async () => {
    const { inbound, admin, consul, drain } = await inboundSidecar();
    const h2 = new RawHttp2Client(inbound);
    await h2.settled;
    h2.get(1, 'app', '/slow'); // in flight across the whole drain

    const started = performance.now();
    const drained = drain();
    const ready = await h1Request(admin, { path: '/ready' });
    expect(ready.status).toBe(503);
    expect(ready.body.toString()).toContain('draining (shutdown)');

    await waitFor('the final GOAWAY', () => h2.goaways().length >= 2, 5_000, 10);
    const [notice, last] = h2.goaways() as [ReturnType<RawHttp2Client['goaways']>[number], ReturnType<RawHttp2Client['goaways']>[number]];
    expect(notice.lastStreamId).toBe(2 ** 31 - 1);
    expect(last.lastStreamId).toBe(1);
    const ping = h2.frames.find((f) => f.type === FrameType.Ping && f.at >= notice.at);
    expect(ping).toBeDefined();
    expect(h2.frames.indexOf(ping as (typeof h2.frames)[number])).toBeGreaterThan(h2.frames.indexOf(h2.frames.find((f) => f.type === FrameType.Goaway) as (typeof h2.frames)[number]));
    expect(last.at).toBeGreaterThanOrEqual((ping as (typeof h2.frames)[number]).at);

    const deregistered = consul.server.requests.find((r) => r.method === 'PUT' && r.path.startsWith('/v1/agent/service/deregister/'));
    expect(deregistered, 'the deregistration').toBeDefined();
    expect((deregistered as { receivedAt: number }).receivedAt).toBeLessThan(notice.at);
    // Clients and discovery had wait_before_drain to learn, counted from the start of the drain.
    expect(notice.at - started).toBeGreaterThanOrEqual(WAIT_BEFORE_DRAIN_MS);

    // The stream in flight completes whole, and the drain finishes after it.
    await waitFor('stream 1 to end', () => h2.streamEndedAt(1) !== undefined, 5_000, 10);
    expect(h2.data(1)).toBe('slow done');
    await drained;
    expect(await h2.closed).toBeGreaterThan(notice.at);
  });

  it('says Connection: close on the next HTTP/1.1 response once draining, and closes keep-alive connections idle for a second', async () => {
    const { inbound, drain } = await inboundSidecar();
    const busy = new RawHttp1Connection(inbound);
    const reused = new RawHttp1Connection(inbound);
    const idle = new RawHttp1Connection(inbound);
    for (const connection of [busy, reused, idle]) expect((await connection.get('/warm')).headers['connection']).toBe('keep-alive');
    const idleSince = performance.now(); // at or before the server last saw it busy
    const slow = busy.get('/slower');
    // A request before the listener drains (during wait_before_drain) still keeps its connection.
    const drained = drain();
    const reusedSince = performance.now();
    expect((await reused.get('/early')).headers['connection']).toBe('keep-alive');

    // Idle ones close once idle for a second (closing one sooner would race a busy client's next
    // request), while the drain still waits for the slower response.
    expect(await idle.closed).toBeGreaterThanOrEqual(idleSince + 1_000);
    expect(await reused.closed).toBeGreaterThanOrEqual(reusedSince + 1_000);
    expect(busy.isClosed).toBe(false);
    const answer = await slow;
    expect(answer.body).toBe('slower done');
    expect(answer.headers['connection']).toBe('close');
    await busy.closed;
    await drained;
  });

  it('gives a keep-alive connection its idle second even when the drain has nothing to wait for', async () => {
    const { inbound, drain } = await inboundSidecar();
    const connection = new RawHttp1Connection(inbound);
    const sentAt = performance.now();
    expect((await connection.get('/last')).headers['connection']).toBe('keep-alive');
    // Nothing in flight: the drain ends right after wait_before_drain, well within the second.
    const drained = drain();
    expect(await connection.closed).toBeGreaterThanOrEqual(sentAt + 1_000);
    await drained;
  });

  it('stops accepting new connections on the inbound port once it drains', async () => {
    const { inbound, drain } = await inboundSidecar();
    const drained = drain();
    expect((await h1Request(inbound, { path: '/during-wait' })).status).toBe(200);
    await drained;
    await expect(h1Request(inbound, { path: '/after' })).rejects.toThrow(/ECONNREFUSED/);
  });

  it("keeps serving the app's outbound calls after inbound has drained, and finishes only once they have been quiet for a second", async () => {
    const app = await startHttp1Backend((_req, res) => res.end('app'));
    const web = await startHttp1Backend((_req, res) => res.end('web'));
    const mesh = await startSidecar(
      { service: { name: 'app', port: app.port }, inbound: { port: 0 }, upstreams: [{ name: 'web', local_port: 0 }], drain: { wait_before_drain: '0s', timeout: '10s' } },
      { web: [web.endpoint] },
    );
    let drainedAt: number | undefined;
    const drained = mesh.sidecar.drain().then(() => (drainedAt = performance.now()));
    await waitFor('inbound to stop accepting', async () => (await h1Request(mesh.port('inbound')).catch(() => undefined)) === undefined);
    let lastCall = 0; // sent at or after this; it ended later still
    for (let i = 0; i < 5; i++) {
      lastCall = performance.now();
      expect((await h1Request(mesh.port('outbound.web'), { path: `/${i}` })).body.toString()).toBe('web');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(drainedAt).toBeUndefined();
    await drained;
    expect(drainedAt as number).toBeGreaterThanOrEqual(lastCall + 1_000);
  });
});
