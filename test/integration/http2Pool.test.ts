import { describe, expect, it } from 'vitest';
import { startHttp2Backend } from '../helpers/backends.js';
import { h2Request, h2Session } from '../helpers/clients.js';
import { answerEcho, echoes, endpointStats, flushSessions, sendConcurrent, startHeldHttp2Backend } from '../helpers/pools.js';
import { startSidecarFor } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

describe('HTTP/2 upstream pool', () => {
  it.each(['http2', 'grpc'] as const)('multiplexes concurrent %s requests on one session', async (protocol) => {
    const backend = await startHeldHttp2Backend({ releaseAt: 20 });
    const mesh = await startSidecarFor('api', protocol, [backend.endpoint]);
    const results = await sendConcurrent(protocol, mesh.port('outbound.api'), 20);
    expect(results).toEqual(echoes(20));
    expect(backend.maxInFlight()).toBe(20);
    expect(backend.sessionsAccepted()).toBe(1);
    expect((await endpointStats(mesh, 'api')).connections).toBe(1);
  });

  it.each(['http2', 'grpc'] as const)("opens another %s session when the peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached", async (protocol) => {
    const backend = await startHeldHttp2Backend({ settings: { maxConcurrentStreams: 5 }, releaseAt: 12 });
    const mesh = await startSidecarFor('api', protocol, [backend.endpoint]);
    const port = mesh.port('outbound.api');
    // A first exchange lets the pool learn the peer's limit from its SETTINGS.
    expect(await sendConcurrent(protocol, port, 1, '/warm')).toEqual(echoes(1, '/warm'));
    const results = await sendConcurrent(protocol, port, 12);
    expect(results).toEqual(echoes(12));
    expect(backend.maxInFlight()).toBe(12);
    expect(backend.sessionsAccepted()).toBe(3);
    expect(backend.requestsPerSession()).toEqual([5, 5, 2]);
  });

  it('opens another session when pool.max_concurrent_streams is reached', async () => {
    const backend = await startHeldHttp2Backend({ releaseAt: 12 });
    const mesh = await startSidecarFor('api', 'http2', [backend.endpoint], { pool: { max_concurrent_streams: 5 } });
    const results = await sendConcurrent('http2', mesh.port('outbound.api'), 12);
    expect(results).toEqual(echoes(12));
    expect(backend.maxInFlight()).toBe(12);
    expect(backend.sessionsAccepted()).toBe(3);
    expect(backend.requestsPerSession()).toEqual([5, 5, 2]);
  });

  it.each([
    { limit: 'pool.max_concurrent_streams', pool: { max_connections_per_endpoint: 2, max_concurrent_streams: 5 }, settings: {} },
    { limit: "the peer's SETTINGS_MAX_CONCURRENT_STREAMS", pool: { max_connections_per_endpoint: 2 }, settings: { maxConcurrentStreams: 5 } },
  ])('caps sessions at pool.max_connections_per_endpoint; streams beyond $limit wait, then complete', async ({ pool, settings }) => {
    const backend = await startHeldHttp2Backend({ settings });
    const mesh = await startSidecarFor('api', 'http2', [backend.endpoint], { pool });
    const port = mesh.port('outbound.api');
    expect(await sendConcurrent('http2', port, 1, '/warm')).toEqual(echoes(1, '/warm'));
    const pending = sendConcurrent('http2', port, 14);
    await waitFor('10 requests at the backend and 14 in the pool', async () => backend.arrived() >= 10 && (await endpointStats(mesh, 'api')).active_requests === 14);
    await flushSessions(backend);
    // Two sessions of five streams are full: the other four wait in Tandem or in nghttp2.
    expect(backend.arrived()).toBe(10);
    expect(backend.sessionsAccepted()).toBe(2);
    backend.release();
    expect(await pending).toEqual(echoes(14));
    expect(backend.maxInFlight()).toBe(10);
    expect(backend.sessionsAccepted()).toBe(2);
  });

  it('closes a session idle for pool.idle_timeout and opens a new one for the next request', async () => {
    const backend = await startHttp2Backend((stream, headers) => answerEcho(stream, String(headers[':path']), false));
    const mesh = await startSidecarFor('api', 'http2', [backend.endpoint], { pool: { idle_timeout: '200ms' } });
    const session = h2Session(mesh.port('outbound.api'));
    const first = await h2Request(session, { ':path': '/first' });
    expect(first.body.toString()).toBe('echo:/first');
    expect(backend.sessionsAccepted()).toBe(1);
    await waitFor('the idle session to close at both ends', async () => backend.openSessions().size === 0 && (await endpointStats(mesh, 'api')).connections === 0);
    const second = await h2Request(session, { ':path': '/second' });
    expect(second.body.toString()).toBe('echo:/second');
    expect(backend.sessionsAccepted()).toBe(2);
    expect(backend.openSessions().size).toBe(1);
  });
});
