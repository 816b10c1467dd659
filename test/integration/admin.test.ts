import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request } from '../helpers/clients.js';
import { startSidecar } from '../helpers/sidecar.js';

async function adminGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await h1Request(port, { path });
  return { status: response.status, body: response.body.toString() };
}

describe('admin server', () => {
  it('is ready once listeners are bound and discovery has answered, and live always', async () => {
    const backend = await startHttp1Backend((_req, res) => res.end('ok'));
    const mesh = await startSidecar({ upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
    const admin = mesh.port('admin');
    expect(await adminGet(admin, '/ready')).toEqual({ status: 200, body: 'ready\n' });
    expect(await adminGet(admin, '/live')).toEqual({ status: 200, body: 'live\n' });
  });

  it('shows each endpoint with its address, weight, health and request counters in /clusters', async () => {
    const backend = await startHttp1Backend((req, res) => {
      res.statusCode = req.url === '/fail' ? 503 : 200;
      res.end();
    });
    const mesh = await startSidecar(
      { upstreams: [{ name: 'web', local_port: 0, lb: { policy: 'round_robin' } }] },
      { web: [{ address: '127.0.0.1', port: backend.port, weight: 3, metadata: { zone: 'a' } }, { address: '127.0.0.1', port: 1, health: 'unhealthy' }] },
    );
    const port = mesh.port('outbound.web');
    await h1Request(port);
    await h1Request(port, { path: '/fail' });
    const { status, body } = await adminGet(mesh.port('admin'), '/clusters');
    expect(status).toBe(200);
    expect(JSON.parse(body)).toEqual({
      clusters: [
        {
          name: 'web',
          service: 'web',
          protocol: 'http1',
          lb_policy: 'round_robin',
          panic: false,
          synced: true,
          last_sync: expect.any(String) as string,
          discovery_error: null,
          circuit_breakers: {
            connections: { used: 1, limit: 1024, overflows: 0 },
            pending_requests: { used: 0, limit: 1024, overflows: 0 },
            requests: { used: 0, limit: 1024, overflows: 0 },
            retries: { used: 0, limit: 1024, overflows: 0 },
          },
          // Two requests; the 503 was retried twice (gateway-error), both times from the per-second floor.
          retry_budget: {
            retry_ratio: 0.2,
            min_retries_per_second: 10,
            ttl_ms: 10_000,
            requests_in_window: 2,
            retries_in_window: 2,
            retries_allowed_now: true,
            exhausted_total: 0,
          },
          outlier_detection: { ejected: 0, ejections_total: 0, ejections_overflowed: 0 },
          endpoints: [
            {
              address: '127.0.0.1',
              port: backend.port,
              weight: 3,
              effective_weight: 3,
              health: 'healthy',
              eligible: true,
              gone_away: false,
              ejected: false,
              active_health: 'unknown',
              active_requests: 0,
              total_requests: 4,
              total_failures: 3,
              connections: 1,
              metadata: { zone: 'a' },
              outlier: {
                ejected: false,
                ejection_reason: null,
                ejection_remaining_ms: null,
                times_ejected: 0,
                consecutive_5xx: 3,
                consecutive_gateway_failures: 3,
                consecutive_local_origin_failures: 0,
                success_rate: null,
              },
              active_health_check: null,
            },
            {
              address: '127.0.0.1',
              port: 1,
              weight: 1,
              effective_weight: 1,
              health: 'unhealthy',
              eligible: false,
              gone_away: false,
              ejected: false,
              active_health: 'unknown',
              active_requests: 0,
              total_requests: 0,
              total_failures: 0,
              connections: 0,
              metadata: {},
              outlier: {
                ejected: false,
                ejection_reason: null,
                ejection_remaining_ms: null,
                times_ejected: 0,
                consecutive_5xx: 0,
                consecutive_gateway_failures: 0,
                consecutive_local_origin_failures: 0,
                success_rate: null,
              },
              active_health_check: null,
            },
          ],
        },
      ],
    });
  });

  it('dumps the effective configuration with defaults filled in', async () => {
    const mesh = await startSidecar({ upstreams: [{ name: 'web', connect_timeout: '250ms' }] }, { web: [] });
    const dump = JSON.parse((await adminGet(mesh.port('admin'), '/config_dump')).body) as { upstreams: unknown[] };
    expect(dump.upstreams[0]).toMatchObject({ name: 'web', service: 'web', protocol: 'http1', connect_timeout: '250ms', lb: { policy: 'least_request', healthy_panic_threshold: 50 } });
  });

  it('lists listeners with their bound ports', async () => {
    const mesh = await startSidecar({ outbound: { http_proxy_port: 0 }, upstreams: [{ name: 'web', local_port: 0 }] }, { web: [] });
    const { listeners } = JSON.parse((await adminGet(mesh.port('admin'), '/listeners')).body) as { listeners: Array<{ name: string; port: number }> };
    expect(listeners.map((l) => l.name)).toEqual(['outbound.web', 'outbound.http_proxy', 'admin']);
    expect(listeners.find((l) => l.name === 'outbound.web')?.port).toBe(mesh.port('outbound.web'));
  });

  it('serves Prometheus metrics, including the panic state of each upstream', async () => {
    const mesh = await startSidecar(
      { upstreams: [{ name: 'web', local_port: 0 }] },
      { web: [{ address: '127.0.0.1', port: 1 }, { address: '127.0.0.1', port: 2, health: 'unhealthy' }, { address: '127.0.0.1', port: 3, health: 'unhealthy' }] },
    );
    const { status, body } = await adminGet(mesh.port('admin'), '/metrics');
    expect(status).toBe(200);
    expect(body).toContain('tandem_lb_panic{upstream="web"} 1');
    expect(body).toContain('# TYPE tandem_lb_hash_key_missing_total counter');
  });

  it('answers 405 to other methods and 404 to unknown paths', async () => {
    const mesh = await startSidecar({}, {});
    const admin = mesh.port('admin');
    const post = await h1Request(admin, { method: 'POST', path: '/clusters' });
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET');
    expect((await adminGet(admin, '/nope')).status).toBe(404);
  });
});

describe('inbound listener', () => {
  it('forwards to the local app and shows it as the local_app cluster', async () => {
    const app = await startHttp1Backend((req, res) => res.end(`app ${req.url} xff=${String(req.headers['x-forwarded-for'])}`));
    const mesh = await startSidecar({ service: { name: 'web', port: app.port }, inbound: { port: 0 } }, {});
    const response = await h1Request(mesh.port('inbound'), { path: '/hello' });
    expect(response.body.toString()).toBe('app /hello xff=127.0.0.1');
    expect(await mesh.sidecar.clusters()).toMatchObject([{ name: 'local_app', service: 'web', endpoints: [{ port: app.port, total_requests: 1 }] }]);
  });
});
