import * as grpc from '@grpc/grpc-js';
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend } from '../../helpers/backends.js';
import { startMeshCa, TRUST_DOMAIN, waitForIdentity, webBehindSidecar, type MeshCa } from '../../helpers/mesh.js';
import { scrapeMetrics } from '../../helpers/prometheus.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';

/** Everyone may call `web`'s app but `shop`. */
const DENY_SHOP = { default: 'allow', rules: [{ from: `spiffe://${TRUST_DOMAIN}/ns/default/svc/shop`, action: 'deny' }] };

async function caller(ca: MeshCa, name: string, server: TestSidecar, protocol: 'http1' | 'grpc'): Promise<TestSidecar> {
  const sidecar = await startSidecar(
    { identity: await ca.identityFor(name), upstreams: [{ name: 'web', protocol, local_port: 0, retry: { num_retries: 0 } }] },
    { web: [`127.0.0.1:${server.port('inbound')}`] },
  );
  await waitForIdentity(sidecar);
  return sidecar;
}

function get(port: number): Promise<{ status: number; error: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/orders', headers: { host: 'web' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, error: res.headers['x-tandem-error'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('inbound authorization by SPIFFE ID', () => {
  it('answers a denied HTTP/1.1 caller 403 TANDEM_UNAUTHORIZED, serves another caller on the same inbound, and keeps denied calls from the app', async () => {
    const ca = await startMeshCa();
    const { sidecar: server, received } = await webBehindSidecar(ca, { authorization: DENY_SHOP });
    const shop = await caller(ca, 'shop', server, 'http1');
    const cart = await caller(ca, 'cart', server, 'http1');

    expect(await get(shop.port('outbound.web'))).toEqual({ status: 403, error: 'TANDEM_UNAUTHORIZED' });
    expect(await get(cart.port('outbound.web'))).toEqual({ status: 200, error: undefined });
    expect(await get(shop.port('outbound.web'))).toEqual({ status: 403, error: 'TANDEM_UNAUTHORIZED' });

    expect(received).toHaveLength(1);
    const metrics = await scrapeMetrics(server.port('admin'));
    expect(metrics.sum('tandem_authorization_denied_total', { rule: 'rules[0]' })).toBe(2);
  });

  it('answers a denied gRPC caller PERMISSION_DENIED, and serves another', async () => {
    const ca = await startMeshCa();
    let served = 0;
    const app = await startGrpcBackend({
      unary: (call, callback) => {
        served++;
        callback(null, call.request);
      },
    });
    const server = await startSidecar({
      service: { name: 'web', port: app.port, protocol: 'grpc' },
      inbound: { port: 0 },
      identity: await ca.identityFor('web'),
      authorization: DENY_SHOP,
    });
    await waitForIdentity(server);
    const shop = await caller(ca, 'shop', server, 'grpc');
    const cart = await caller(ca, 'cart', server, 'grpc');

    const denied = await callUnary(echoClient(shop.port('outbound.web')), Buffer.from('hi'));
    const allowed = await callUnary(echoClient(cart.port('outbound.web')), Buffer.from('hi'));

    expect(denied.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.trailers?.get('x-tandem-error')).toEqual(['TANDEM_UNAUTHORIZED']);
    expect(allowed.error).toBeNull();
    expect(allowed.reply?.toString()).toBe('hi');
    expect(served).toBe(1);
  });
});
