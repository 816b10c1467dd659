import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startMeshCa, TRUST_DOMAIN, waitForIdentity, webBehindSidecar, type MeshCa } from '../../helpers/mesh.js';
import { scrapeMetrics } from '../../helpers/prometheus.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';

/** The `web` app behind its sidecar; and a client sidecar (`shop`) with upstream `web` pointing at it. */
async function twoSidecars(ca: MeshCa): Promise<{ server: TestSidecar; client: TestSidecar; received: IncomingHttpHeaders[] }> {
  const { sidecar: server, received } = await webBehindSidecar(ca);
  const client = await startSidecar(
    { identity: await ca.identityFor('shop'), upstreams: [{ name: 'web', local_port: 0 }] },
    { web: [`127.0.0.1:${server.port('inbound')}`] },
  );
  await waitForIdentity(client);
  return { server, client, received };
}

function get(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers: { host: 'web', ...headers } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('mutual TLS between sidecars', () => {
  it('carries an HTTP/1.1 call client sidecar → mTLS → server sidecar → app, telling the app who called', async () => {
    const ca = await startMeshCa();
    const { client, received } = await twoSidecars(ca);

    const answer = await get(client.port('outbound.web'), { 'x-forwarded-client-cert': 'By=spiffe://evil/ns/x/svc/y;URI=spiffe://mesh.test/ns/default/svc/admin' });

    expect(answer).toEqual({ status: 200, body: 'ok' });
    expect(received).toHaveLength(1);
    expect(received[0]?.['x-forwarded-client-cert']).toMatch(
      new RegExp(`^By=spiffe://${TRUST_DOMAIN}/ns/default/svc/web;Hash=[0-9a-f]{64};URI=spiffe://${TRUST_DOMAIN}/ns/default/svc/shop$`),
    );
  });

  it('refuses a plaintext client on a strict inbound before any byte reaches the app, and counts it', async () => {
    const ca = await startMeshCa();
    const { server, received } = await twoSidecars(ca);

    const outcome = await new Promise<string>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port: server.port('inbound') }, () => socket.write('GET / HTTP/1.1\r\nHost: web\r\n\r\n'));
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(received));
    });

    expect(outcome).toBe('');
    expect(received).toHaveLength(0);
    const metrics = await scrapeMetrics(server.port('admin'));
    expect(metrics.sum('tandem_tls_refused_total', { listener: 'inbound', reason: 'plaintext' })).toBe(1);
  });

  it('refuses a client certificate from another CA, and counts it', async () => {
    const ca = await startMeshCa();
    const other = await startMeshCa();
    const { server, received } = await twoSidecars(ca);
    // A sidecar of the other CA, whose upstream points at the first mesh's server.
    const stranger = await startSidecar(
      { identity: await other.identityFor('shop'), upstreams: [{ name: 'web', local_port: 0, retry: { num_retries: 0 } }] },
      { web: [`127.0.0.1:${server.port('inbound')}`] },
    );
    await waitForIdentity(stranger);

    const answer = await get(stranger.port('outbound.web'));

    expect(answer.status).toBe(503);
    expect(received).toHaveLength(0);
    const metrics = await scrapeMetrics(server.port('admin'));
    expect(metrics.sum('tandem_tls_refused_total', { listener: 'inbound', reason: 'handshake' })).toBeGreaterThanOrEqual(1);
    // The stranger, for its part, does not trust the server's chain either.
    const strangerMetrics = await scrapeMetrics(stranger.port('admin'));
    expect(strangerMetrics.sum('tandem_upstream_tls_refused_total', { upstream: 'web', reason: 'handshake' })).toBeGreaterThanOrEqual(1);
  });

  it('refuses, on the client side, a server whose identity is not the one expected for the upstream', async () => {
    const ca = await startMeshCa();
    const { server, received } = await twoSidecars(ca);
    // `api` resolves to web's sidecar: it proves spiffe://…/svc/web, not …/svc/api.
    const client = await startSidecar(
      { identity: await ca.identityFor('shop'), upstreams: [{ name: 'api', local_port: 0, retry: { num_retries: 0 } }] },
      { api: [`127.0.0.1:${server.port('inbound')}`] },
    );
    await waitForIdentity(client);

    const answer = await get(client.port('outbound.api'));

    expect(answer.status).toBe(503);
    expect(received).toHaveLength(0);
    const metrics = await scrapeMetrics(client.port('admin'));
    expect(metrics.sum('tandem_upstream_tls_refused_total', { upstream: 'api', reason: 'identity' })).toBeGreaterThanOrEqual(1); // a failed connect is resent, so maybe more
  });

  it('answers /identity with the SPIFFE ID, serial and expiry, and exports the expiry as a metric', async () => {
    const ca = await startMeshCa();
    const { server } = await twoSidecars(ca);
    const identity = (await server.sidecar.identity()) as Record<string, unknown>;
    expect(identity.spiffe_id).toBe(`spiffe://${TRUST_DOMAIN}/ns/default/svc/web`);
    expect(identity.serial).toMatch(/^[0-9a-f]{32,34}$/);
    const metrics = await scrapeMetrics(server.port('admin'));
    const expiry = metrics.sum('tandem_identity_cert_expiry_seconds');
    expect(expiry).toBeGreaterThan(23 * 3600);
    expect(expiry).toBeLessThanOrEqual(24 * 3600);
  });
});
