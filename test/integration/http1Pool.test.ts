import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request } from '../helpers/clients.js';
import { endpointStats, startStaleKeepAliveBackend, startUnresponsiveListener } from '../helpers/pools.js';
import { startSidecarFor } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

describe('HTTP/1.1 upstream pool', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const backend = await startHttp1Backend((req, res) => res.end(`web ${req.url}`));
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint]);
    for (let i = 0; i < 10; i++) {
      const response = await h1Request(mesh.port('outbound.web'), { path: `/n${i}` });
      expect(response.body.toString()).toBe(`web /n${i}`);
    }
    expect(backend.connectionsAccepted()).toBe(1);
    expect((await endpointStats(mesh, 'web')).connections).toBe(1);
  });

  it('opens at most pool.max_connections_per_endpoint sockets; requests beyond wait for one', async () => {
    // Answers requests two at a time, so each socket stays busy until another request has arrived.
    const waiting: Array<{ res: ServerResponse; url: string }> = [];
    let mostOpen = 0;
    const backend = await startHttp1Backend((req, res) => {
      mostOpen = Math.max(mostOpen, backend.openConnections());
      waiting.push({ res, url: String(req.url) });
      if (waiting.length === 2) for (const { res: held, url } of waiting.splice(0)) held.end(`web ${url}`);
    });
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint], { pool: { max_connections_per_endpoint: 2 } });
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => h1Request(mesh.port('outbound.web'), { path: `/n${i}` })));
    expect(responses.map((response) => `${response.status} ${response.body.toString()}`)).toEqual(
      Array.from({ length: 10 }, (_, i) => `200 web /n${i}`),
    );
    expect(mostOpen).toBe(2);
    expect(backend.connectionsAccepted()).toBe(2);
    expect((await endpointStats(mesh, 'web')).connections).toBe(2);
  });

  it('closes a connection idle for pool.idle_timeout and opens a new one for the next request', async () => {
    const backend = await startHttp1Backend((req, res) => res.end(`web ${req.url}`));
    backend.server.keepAliveTimeout = 60_000; // only Tandem may close the idle connection
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint], { pool: { idle_timeout: '200ms' } });
    expect((await h1Request(mesh.port('outbound.web'), { path: '/first' })).body.toString()).toBe('web /first');
    expect(backend.connectionsAccepted()).toBe(1);
    await waitFor('the idle connection to close at both ends', async () => backend.openConnections() === 0 && (await endpointStats(mesh, 'web')).connections === 0);
    expect((await h1Request(mesh.port('outbound.web'), { path: '/second' })).body.toString()).toBe('web /second');
    expect(backend.connectionsAccepted()).toBe(2);
  });

  it('answers 503 TANDEM_CONNECT_TIMEOUT when no connection is made within connect_timeout', async () => {
    const listener = await startUnresponsiveListener();
    const mesh = await startSidecarFor('web', 'http1', [listener.endpoint], { connect_timeout: '300ms', retry: { num_retries: 0 } });
    const response = await h1Request(mesh.port('outbound.web'));
    expect(response.status).toBe(503);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_CONNECT_TIMEOUT');
    expect(response.body.toString()).toContain(`no connection to ${listener.endpoint} within 300ms`);
    // A connect that never happened is resent for free twice; the policy's retries are off here.
    expect(await endpointStats(mesh, 'web')).toMatchObject({ total_requests: 3, total_failures: 3, active_requests: 0 });
    await waitFor('the timed-out sockets to be discarded', async () => (await endpointStats(mesh, 'web')).connections === 0);
  });

  it('resends an idempotent request on a new connection when the reused keep-alive connection is dead', async () => {
    const backend = await startStaleKeepAliveBackend();
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint]);
    expect((await h1Request(mesh.port('outbound.web'), { path: '/warm' })).body.toString()).toBe('served GET /warm');
    const response = await h1Request(mesh.port('outbound.web'), { path: '/again' });
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('served GET /again');
    expect(backend.requests).toEqual(['1 GET /warm', '1 GET /again', '2 GET /again']);
  });

  it('never resends a POST that a dead keep-alive connection may have delivered: 502 TANDEM_UPSTREAM_RESET', async () => {
    const backend = await startStaleKeepAliveBackend();
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint]);
    expect((await h1Request(mesh.port('outbound.web'), { path: '/warm' })).body.toString()).toBe('served GET /warm');
    const response = await h1Request(mesh.port('outbound.web'), {
      method: 'POST',
      path: '/orders',
      headers: { 'content-type': 'text/plain', 'content-length': '5' },
      body: 'order',
    });
    expect(response.status).toBe(502);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_UPSTREAM_RESET');
    expect(backend.requests).toEqual(['1 GET /warm', '1 POST /orders']);
    expect(backend.connectionsAccepted()).toBe(1);
  });
});
