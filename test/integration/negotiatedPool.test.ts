import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../sidecar/config/load.js';
import { Sidecar } from '../../sidecar/sidecar.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request } from '../helpers/clients.js';
import { selfSignedCertificate, testTlsConnector } from '../helpers/tls.js';

const IDENTITY = 'spiffe://example.org/ns/default/svc/orders';
const certificate = selfSignedCertificate();

/** What a TLS backend saw of each request: the HTTP version, the ALPN choice and which connection carried it. */
interface Seen {
  readonly httpVersion: string;
  readonly alpn: string | false | null;
  /** The HTTP/2 session, or the HTTP/1.1 socket. */
  readonly connection: unknown;
}

async function listen(server: { listen(port: number, host: string, cb: () => void): unknown; address(): unknown; close(): unknown }): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** A TLS backend speaking HTTP/2 and HTTP/1.1 (ALPN picks), or HTTP/1.1 only. */
async function tlsBackend(protocols: 'h2 and http/1.1' | 'http/1.1'): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const handler = (req: { httpVersion: string; socket: unknown; stream?: { session?: unknown } }, res: { end(body: string): void }): void => {
    seen.push({ httpVersion: req.httpVersion, alpn: (req.socket as TLSSocket).alpnProtocol, connection: req.stream?.session ?? req.socket });
    res.end('hello');
  };
  const server =
    protocols === 'http/1.1'
      ? createHttpsServer({ ...certificate, ALPNProtocols: ['http/1.1'] }, handler)
      : createSecureServer({ ...certificate, allowHTTP1: true }, handler);
  return { port: await listen(server), seen };
}

async function sidecarWith(connector: ReturnType<typeof testTlsConnector>, backendPort: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-test-'));
  writeFileSync(join(dir, 'endpoints.yaml'), stringify({ services: { orders: [{ address: '127.0.0.1', port: backendPort, identity: IDENTITY }] } }));
  const loaded = parseConfig(
    { admin: { port: 0 }, log: { level: 'warn' }, discovery: { static: { file: 'endpoints.yaml' } }, upstreams: [{ name: 'orders', protocol: 'http1', local_port: 0 }] },
    'test',
    dir,
  );
  const sidecar = await Sidecar.start(loaded, { connector });
  onCleanup(async () => {
    await sidecar.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return sidecar.port('outbound.orders');
}

describe('a connector that negotiates the protocol', () => {
  it('carries SNI, both ALPN protocols and the identity discovery named for the endpoint', async () => {
    const backend = await tlsBackend('h2 and http/1.1');
    const connector = testTlsConnector(certificate.cert);
    const port = await sidecarWith(connector, backend.port);
    expect((await h1Request(port)).status).toBe(200);
    expect(connector.targets[0]).toMatchObject({ serverName: 'orders', alpnProtocols: ['h2', 'http/1.1'], expectedIdentity: IDENTITY, port: backend.port });
    expect(backend.seen[0]?.alpn).toBe('h2');
  });

  it('sends an HTTP/1.1 upstream\'s requests over HTTP/2 when the endpoint negotiates h2, multiplexed on one connection', async () => {
    const backend = await tlsBackend('h2 and http/1.1');
    const connector = testTlsConnector(certificate.cert);
    const port = await sidecarWith(connector, backend.port);
    const answers = await Promise.all(Array.from({ length: 20 }, () => h1Request(port)));
    expect(answers.map((answer) => answer.body.toString())).toEqual(Array(20).fill('hello'));
    expect(new Set(backend.seen.map((request) => request.httpVersion))).toEqual(new Set(['2.0']));
    expect(new Set(backend.seen.map((request) => request.connection)).size).toBe(1);
    expect(connector.targets).toHaveLength(1);
  });

  it('keeps HTTP/1.1 when the endpoint negotiates http/1.1', async () => {
    const backend = await tlsBackend('http/1.1');
    const connector = testTlsConnector(certificate.cert);
    const port = await sidecarWith(connector, backend.port);
    for (let i = 0; i < 3; i++) expect((await h1Request(port)).body.toString()).toBe('hello');
    expect(backend.seen.map((request) => [request.httpVersion, request.alpn])).toEqual(Array(3).fill(['1.1', 'http/1.1']));
    // The negotiated connection is the pool's first keep-alive socket, reused.
    expect(new Set(backend.seen.map((request) => request.connection)).size).toBe(1);
  });
});
