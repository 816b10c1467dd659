import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { grpcCheck } from '../../sidecar/health/grpcCheck.js';
import { httpCheck } from '../../sidecar/health/httpCheck.js';
import { tcpCheck } from '../../sidecar/health/tcpCheck.js';
import { startHttp1Backend } from '../helpers/backends.js';
import { startGrpcHealthServer } from '../helpers/grpcHealth.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const at = (port: number) => ({ address: '127.0.0.1', port });

describe('health checkers', () => {
  it('tcp: healthy when a connection opens, unhealthy when refused', async () => {
    const app = await startHttp1Backend((_req, res) => res.end());
    const checker = tcpCheck.create({});
    expect(await checker.check(at(app.port), 1_000)).toEqual({ healthy: true, detail: 'TCP connect ok' });
    const refused = await checker.check(at(await closedPort()), 1_000);
    expect(refused.healthy).toBe(false);
    expect(refused.detail).toMatch(/ECONNREFUSED/);
  });

  it('http: healthy on an expected status of its path, unhealthy otherwise or on a timeout', async () => {
    const app = await startHttp1Backend((req, res) => {
      if (req.url === '/slow') return; // never answers
      res.statusCode = req.url === '/healthz' ? 204 : 503;
      res.end();
    });
    const parse = (config: object) => httpCheck.create(httpCheck.configSchema.parse(config));
    expect(await parse({ path: '/healthz' }).check(at(app.port), 1_000)).toEqual({ healthy: true, detail: 'HTTP 204 from GET /healthz' });
    expect(await parse({ path: '/other' }).check(at(app.port), 1_000)).toEqual({ healthy: false, detail: 'HTTP 503 from GET /other' });
    expect((await parse({ path: '/other', expected_statuses: [[500, 503]] }).check(at(app.port), 1_000)).healthy).toBe(true);
    expect(await parse({ path: '/slow' }).check(at(app.port), 200)).toEqual({ healthy: false, detail: 'no answer within 200 ms' });
  });

  it('grpc: healthy only when grpc.health.v1 answers SERVING for the configured service', async () => {
    const port = await startGrpcHealthServer((service) => (service === 'orders' ? 1 : service === '' ? 1 : 2));
    const check = (service_name: string) => grpcCheck.create(grpcCheck.configSchema.parse({ service_name })).check(at(port), 1_000);
    expect(await check('')).toEqual({ healthy: true, detail: 'grpc.health.v1 SERVING' });
    expect(await check('orders')).toEqual({ healthy: true, detail: 'grpc.health.v1 SERVING' });
    expect(await check('billing')).toEqual({ healthy: false, detail: 'grpc.health.v1 NOT_SERVING' });
    const down = await grpcCheck.create({ service_name: '' }).check(at(await closedPort()), 1_000);
    expect(down.healthy).toBe(false);
    expect(down.detail).toMatch(/UNAVAILABLE/);
  });
});
