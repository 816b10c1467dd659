import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request } from '../helpers/clients.js';
import { consulTestServer } from '../helpers/consul/control.js';
import { startSidecar } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

describe('readiness while Consul has never answered', () => {
  it('/ready says 503 with the last discovery error until the first sync, then 200', async () => {
    const consul = await consulTestServer();
    consul.server.faults.failWith(500, { pathPrefix: '/v1/health/', body: 'agent unhappy' });
    const backend = await startHttp1Backend((_req, res) => res.end('orders'));
    await consul.control.registerInstance('orders', 'orders-1', backend.port);
    const mesh = await startSidecar({ discovery: { consul: { address: consul.address, wait: '5s' } }, upstreams: [{ name: 'orders', local_port: 0 }] });
    const admin = mesh.port('admin');

    await waitFor('a failed health query', () => consul.server.requests.some((r) => r.path === '/v1/health/service/orders' && r.status === 500));
    let ready = await h1Request(admin, { path: '/ready' });
    await waitFor('the reason to name the discovery error', async () => {
      ready = await h1Request(admin, { path: '/ready' });
      return ready.body.toString().includes('last error');
    });
    expect(ready.status).toBe(503);
    expect(ready.body.toString()).toContain('upstream orders: discovery has not answered yet');
    expect(ready.body.toString()).toMatch(/last error: .*500/);

    consul.server.faults.clear();
    await waitFor('the first successful sync', async () => (await h1Request(admin, { path: '/ready' })).status === 200, 5_000);
    expect((await h1Request(mesh.port('outbound.orders'))).body.toString()).toBe('orders');
  });
});
