import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request, h2Request, h2Session } from '../helpers/clients.js';
import { scrapeMetrics } from '../helpers/prometheus.js';
import { startSidecar } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

/** Per-endpoint attempt metrics, connection counts and the process's own metrics, as a scraper reads them. */

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('endpoint metrics', () => {
  it('counts each attempt by the endpoint that got it and how it ended, and the connections the pools opened', async () => {
    const ok = await startHttp1Backend((_req, res) => res.end('ok'));
    const failing = await startHttp1Backend((_req, res) => {
      res.statusCode = 503;
      res.end('no');
    });
    const dead = `127.0.0.1:${await deadPort()}`;
    const mesh = await startSidecar(
      // No retries and no outlier ejection: every request is exactly one attempt where round robin sends it.
      { upstreams: [{ name: 'svc', local_port: 0, lb: { policy: 'round_robin' }, retry: { num_retries: 0 }, outlier_detection: { enabled: false } }] },
      { svc: [ok.endpoint, failing.endpoint, dead] },
    );
    const answers = { ok: 0, no: 0 };
    for (let i = 0; i < 12; i++) answers[(await h1Request(mesh.port('outbound.svc'), { path: `/${i}` })).body.toString() as 'ok' | 'no']++;
    const metrics = await scrapeMetrics(mesh.port('admin'));

    const attempts = (endpoint: string, statusClass: string): number | undefined =>
      metrics.value('tandem_upstream_requests_total', { upstream: 'svc', endpoint, status_class: statusClass, grpc_status: '' });
    expect(answers.ok + answers.no).toBe(12);
    expect(attempts(ok.endpoint, '2xx')).toBe(answers.ok);
    expect(attempts(failing.endpoint, '5xx')).toBe(answers.no);
    expect(metrics.value('tandem_upstream_request_duration_seconds_count', { upstream: 'svc', endpoint: ok.endpoint, status_class: '2xx' })).toBe(answers.ok);
    // An attempt to the dead endpoint is a refused connection (5xx as its error maps), resent for free
    // elsewhere since it was never processed: one attempt and one connect failure each.
    const deadAttempts = attempts(dead, '5xx') as number;
    expect(deadAttempts).toBeGreaterThanOrEqual(1);
    expect(metrics.series('tandem_upstream_requests_total', { endpoint: dead })).toHaveLength(1);
    expect(metrics.value('tandem_upstream_connect_failures_total', { upstream: 'svc' })).toBe(deadAttempts);
    expect(metrics.sum('tandem_upstream_requests_total', { upstream: 'svc' })).toBe(12 + deadAttempts);
    const opened = metrics.value('tandem_upstream_connections_opened_total', { upstream: 'svc' }) as number;
    const closed = metrics.value('tandem_upstream_connections_closed_total', { upstream: 'svc' }) as number;
    expect(metrics.value('tandem_upstream_connections', { upstream: 'svc' })).toBe(opened - closed);
    expect(opened - closed).toBe(2); // one kept-alive connection each to the two live endpoints
  });

  it('drops the series of an endpoint discovery removed', async () => {
    const a = await startHttp1Backend((_req, res) => res.end('a'));
    const b = await startHttp1Backend((_req, res) => res.end('b'));
    const mesh = await startSidecar({ upstreams: [{ name: 'svc', local_port: 0, lb: { policy: 'round_robin' } }] }, { svc: [a.endpoint, b.endpoint] });
    for (let i = 0; i < 4; i++) await h1Request(mesh.port('outbound.svc'));
    expect((await scrapeMetrics(mesh.port('admin'))).series('tandem_upstream_requests_total', { endpoint: b.endpoint })).toHaveLength(1);
    mesh.writeEndpoints({ svc: [a.endpoint] });
    await waitFor('the series of the removed endpoint to go', async () => (await scrapeMetrics(mesh.port('admin'))).series('tandem_upstream_requests_total', { endpoint: b.endpoint }).length === 0);
    expect((await scrapeMetrics(mesh.port('admin'))).series('tandem_upstream_request_duration_seconds_count', { endpoint: b.endpoint })).toEqual([]);
  });

  it("serves Node's process metrics and the event loop's utilisation", async () => {
    const mesh = await startSidecar({});
    const metrics = await scrapeMetrics(mesh.port('admin'));
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(metrics.series(name), name).not.toEqual([]);
    }
    const utilization = metrics.value('tandem_event_loop_utilization', {}) as number;
    expect(utilization).toBeGreaterThanOrEqual(0);
    expect(utilization).toBeLessThanOrEqual(1);
  });

  it('counts request and response body bytes per listener and upstream, on HTTP/1.1 and h2c', async () => {
    const backend = await startHttp1Backend((req, res) => {
      req.resume();
      req.on('end', () => res.end('x'.repeat(2_000)));
    });
    const mesh = await startSidecar({ upstreams: [{ name: 'svc', local_port: 0 }] }, { svc: [backend.endpoint] });
    const port = mesh.port('outbound.svc');
    expect((await h1Request(port, { method: 'POST', body: 'a'.repeat(1_000) })).body).toHaveLength(2_000);
    expect((await h2Request(h2Session(port), { ':method': 'POST' }, 'b'.repeat(500))).body).toHaveLength(2_000);
    await h1Request(port); // no body either way but the response's
    const metrics = await scrapeMetrics(mesh.port('admin'));
    const labels = { direction: 'outbound', listener: 'outbound.svc', upstream: 'svc' };
    expect(metrics.value('tandem_request_bytes_total', labels)).toBe(1_500);
    expect(metrics.value('tandem_response_bytes_total', labels)).toBe(6_000);
  });
});
