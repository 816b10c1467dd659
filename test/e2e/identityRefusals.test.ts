import { connect as tcpConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { exchange, forged, meshSidecar, spiffeId, startCaProcess, type CaProcess } from '../helpers/meshProcesses.js';
import { scrapeMetrics } from '../helpers/prometheus.js';

/** The `web` app (counting what reaches it) behind a sidecar process, optionally with `authorization`. */
async function web(ca: CaProcess, authorization?: unknown) {
  let reached = 0;
  const app = await startHttp1Backend((_req, res) => {
    reached++;
    res.end('ok');
  });
  const sidecar = await meshSidecar(ca, 'web', { service: { name: 'web', port: app.port }, inbound: { port: 0 }, ...(authorization === undefined ? {} : { authorization }) });
  return { sidecar, reached: () => reached, address: `127.0.0.1:${sidecar.port('inbound')}` };
}

/** A client sidecar process for `service` with upstreams pointing at `address`. */
function caller(ca: CaProcess, service: string, upstreams: readonly string[], address: string) {
  return meshSidecar(
    ca,
    service,
    { upstreams: upstreams.map((name) => ({ name, local_port: 0, retry: { num_retries: 0 } })) },
    Object.fromEntries(upstreams.map((name) => [name, [address]])),
  );
}

describe('refusals in a mesh of processes: the app never sees the call, a counter does', () => {
  it('refuses a plaintext client, another CA, an expired certificate and a foreign trust domain at the inbound, and a server proving another identity at the client', async () => {
    const ca = await startCaProcess();
    const server = await web(ca);

    const plaintext = await new Promise<string>((resolve) => {
      const [host, port] = server.address.split(':') as [string, string];
      const socket = tcpConnect({ host, port: Number(port) }, () => socket.write('GET / HTTP/1.1\r\nHost: web\r\n\r\n'));
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(received));
    });
    const otherCa = await startCaProcess();
    const stranger = await caller(otherCa, 'shop', ['web'], server.address);
    const fromStranger = await fetch(`http://127.0.0.1:${stranger.port('outbound.web')}/`);
    const expired = await exchange(server.address, await forged(ca, spiffeId('shop'), Date.now() - 3_600_000));
    const foreign = await exchange(server.address, await forged(ca, 'spiffe://elsewhere.test/ns/default/svc/shop'));
    // `api` resolves to web's sidecar, after `web` itself was reached through the same client (a TLS
    // session with that address exists): it proves …/svc/web, not …/svc/api.
    const client = await caller(ca, 'shop', ['web', 'api'], server.address);
    const viaWeb = await fetch(`http://127.0.0.1:${client.port('outbound.web')}/`);
    const viaApi = await fetch(`http://127.0.0.1:${client.port('outbound.api')}/`);

    expect([plaintext, fromStranger.status, expired, foreign]).toEqual(['', 503, '', '']);
    expect(viaWeb.status).toBe(200);
    expect(viaApi.status).toBe(503);
    expect(server.reached()).toBe(1); // the one call through `web`
    const inbound = await scrapeMetrics(server.sidecar.port('admin'));
    expect(inbound.sum('tandem_tls_refused_total', { listener: 'inbound', reason: 'plaintext' })).toBe(1);
    expect(inbound.sum('tandem_tls_refused_total', { listener: 'inbound', reason: 'handshake' })).toBeGreaterThanOrEqual(2); // another CA, expired
    expect(inbound.sum('tandem_tls_refused_total', { listener: 'inbound', reason: 'identity' })).toBe(1); // foreign trust domain
    const outbound = await scrapeMetrics(client.port('admin'));
    expect(outbound.sum('tandem_upstream_tls_refused_total', { upstream: 'api', reason: 'identity' })).toBeGreaterThanOrEqual(1);
  });

  it('answers a caller denied by a rule 403 TANDEM_UNAUTHORIZED, serves another caller on the same inbound, and keeps denied calls from the app', async () => {
    const ca = await startCaProcess();
    const server = await web(ca, { default: 'allow', rules: [{ from: spiffeId('shop'), action: 'deny' }] });
    const shop = await caller(ca, 'shop', ['web'], server.address);
    const cart = await caller(ca, 'cart', ['web'], server.address);

    const denied = await fetch(`http://127.0.0.1:${shop.port('outbound.web')}/`);
    const allowed = await fetch(`http://127.0.0.1:${cart.port('outbound.web')}/`);

    expect(denied.status).toBe(403);
    expect(denied.headers.get('x-tandem-error')).toBe('TANDEM_UNAUTHORIZED');
    expect(allowed.status).toBe(200);
    expect(server.reached()).toBe(1);
    const metrics = await scrapeMetrics(server.sidecar.port('admin'));
    expect(metrics.sum('tandem_authorization_denied_total', { rule: 'rules[0]' })).toBe(1);
  });
});
