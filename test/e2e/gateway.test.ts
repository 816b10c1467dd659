import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request } from '../helpers/clients.js';
import { spawnSidecar, type SidecarProcess } from '../helpers/processes.js';
import { selfSignedCertificate, type Certificate } from '../helpers/tls.js';

/**
 * Tandem as an edge load balancer, as a process: TLS terminated with the certificate SNI names (ECDSA
 * for one site, RSA for another, a default for the rest), routes by host and path, a 90/10 canary
 * split, a certificate replaced on disk while an HTTP/2 connection stays up, and the HTTPS redirect.
 */

const shop = selfSignedCertificate({ names: ['shop.test'] });
const blog = selfSignedCertificate({ names: ['blog.test', '*.blog.test'], keyType: 'rsa' });
const fallback = selfSignedCertificate({ names: ['fallback.test'] });

/** A gateway process for one test: three sites' certificates, three upstreams, an HTTPS redirect. */
interface Edge {
  readonly gateway: SidecarProcess;
  readonly port: number;
  /** Writes a certificate and key over a site's files, as a certificate manager does (new file, then rename). */
  readonly replace: (site: string, certificate: Certificate) => void;
}

async function startEdge(): Promise<Edge> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-gateway-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const replace = (site: string, certificate: Certificate): void => {
    for (const [suffix, pem] of [['key', certificate.key], ['crt', certificate.cert]] as const) {
      writeFileSync(join(dir, `.${site}.${suffix}`), pem);
      renameSync(join(dir, `.${site}.${suffix}`), join(dir, `${site}.${suffix}`));
    }
  };
  const files = (site: string, certificate: Certificate): { cert_file: string; key_file: string } => {
    replace(site, certificate);
    return { cert_file: join(dir, `${site}.crt`), key_file: join(dir, `${site}.key`) };
  };
  const backends: Record<string, string[]> = {};
  for (const name of ['web-v1', 'web-v2', 'api']) {
    const backend = await startHttp1Backend((req, res) => {
      const { 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': proto, 'x-forwarded-host': host } = req.headers;
      res.setHeader('x-seen-forwarded', JSON.stringify({ for: forwardedFor, proto, host }));
      res.end(`${name} ${req.url ?? ''}`);
    });
    backends[name] = [backend.endpoint];
  }
  const gateway = await spawnSidecar(
    {
      upstreams: [{ name: 'web-v1' }, { name: 'web-v2' }, { name: 'api' }],
      // Stopped at the end of each test: nobody to tell first.
      drain: { wait_before_drain: '0s' },
      gateways: [
        {
          name: 'edge',
          address: '127.0.0.1',
          redirect_http: { port: 0 },
          tls: {
            certificates: [
              { server_names: ['shop.test'], ...files('shop', shop) },
              { server_names: ['blog.test', '*.blog.test'], ...files('blog', blog) },
              { ...files('fallback', fallback), default: true },
            ],
          },
          routes: [
            { match: { host: 'shop.test', prefix: '/api/' }, upstream: 'api', prefix_rewrite: '/' },
            { match: { host: 'shop.test' }, weighted: [{ upstream: 'web-v1', weight: 90 }, { upstream: 'web-v2', weight: 10 }] },
            { match: { host: '*.blog.test', method: 'GET' }, upstream: 'web-v2' },
          ],
        },
      ],
    },
    backends,
  );
  onCleanup(() => gateway.stop());
  return { gateway, port: gateway.port('gateway.edge'), replace };
}

/** The TLS socket of a handshake with the gateway asking for `servername` (none: no SNI at all). */
function handshake(port: number, servername: string | undefined, extra: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }), ...extra }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The certificate a client asking for `servername` is served. */
async function served(port: number, servername: string | undefined): Promise<{ cn: string; keyType: string | undefined; fingerprint: string }> {
  const socket = await handshake(port, servername);
  const certificate = socket.getPeerX509Certificate();
  socket.destroy();
  if (certificate === undefined) throw new Error('no certificate');
  return { cn: /CN=([^\n,]+)/.exec(certificate.subject)?.[1] ?? '', keyType: certificate.publicKey.asymmetricKeyType, fingerprint: certificate.fingerprint256 };
}

/** One HTTPS request to the gateway for `host`, trusting that site's certificate, on keep-alive connections. */
function get(port: number, host: string, path: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: host, headers: { ...headers, host }, ca, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 32 });
afterAll(() => agent.destroy());

describe('gateway', () => {
  it('answers each SNI name with its certificate, ECDSA or RSA, and the default for any other or none', async () => {
    const { port } = await startEdge();
    expect(await served(port, 'shop.test')).toMatchObject({ cn: 'shop.test', keyType: 'ec' });
    expect(await served(port, 'blog.test')).toMatchObject({ cn: 'blog.test', keyType: 'rsa' });
    expect(await served(port, 'www.blog.test')).toMatchObject({ cn: 'blog.test', keyType: 'rsa' });
    // A wildcard covers one label, as certificates do.
    expect(await served(port, 'a.www.blog.test')).toMatchObject({ cn: 'fallback.test' });
    expect(await served(port, 'unknown.test')).toMatchObject({ cn: 'fallback.test' });
    expect(await served(port, undefined)).toMatchObject({ cn: 'fallback.test' });
  });

  it('speaks TLS 1.2 and 1.3, resumes sessions by ticket, and negotiates h2 or http/1.1', async () => {
    const { port } = await startEdge();
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const socket = await handshake(port, 'shop.test', { minVersion: version, maxVersion: version });
      expect(socket.getProtocol()).toBe(version);
      socket.destroy();
    }
    const first = await handshake(port, 'shop.test', { ALPNProtocols: ['h2', 'http/1.1'] });
    expect(first.alpnProtocol).toBe('h2');
    const session = await new Promise<Buffer>((resolve) => first.once('session', resolve));
    first.destroy();
    const resumed = await handshake(port, 'shop.test', { session, ALPNProtocols: ['http/1.1'] });
    expect(resumed.isSessionReused()).toBe(true);
    expect(resumed.alpnProtocol).toBe('http/1.1');
    resumed.destroy();
  });

  it('routes by host and path, rewriting the prefix, sets the forwarding headers, and answers 404 where no route matches', async () => {
    const { port } = await startEdge();
    const api = await get(port, 'shop.test', '/api/items?x=1', shop.cert, { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.test' });
    expect(api).toMatchObject({ status: 200, body: 'api /items?x=1' });
    // What the client claims in forwarding headers is replaced at the edge; the address it came from is appended.
    expect(JSON.parse(api.headers['x-seen-forwarded'] as string)).toEqual({ for: '127.0.0.1', proto: 'https', host: 'shop.test' });
    expect(await get(port, 'www.blog.test', '/post', blog.cert)).toMatchObject({ status: 200, body: 'web-v2 /post' });
    const miss = await get(port, 'blog.test', '/post', blog.cert);
    expect(miss.status).toBe(404);
    expect(miss.headers['x-tandem-error']).toBe('TANDEM_NO_ROUTE');
  });

  it('splits 90/10: the canary gets 10 % ± 2 points of 5,000 requests', async () => {
    const { port } = await startEdge();
    const counts = { 'web-v1': 0, 'web-v2': 0 };
    for (let batch = 0; batch < 100; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => get(port, 'shop.test', '/', shop.cert)));
      for (const answer of answers) counts[answer.body.split(' ')[0] as keyof typeof counts]++;
    }
    expect(counts['web-v1'] + counts['web-v2']).toBe(5_000);
    expect(Math.abs(counts['web-v2'] / 5_000 - 0.1)).toBeLessThanOrEqual(0.02);
  });

  it('serves a certificate replaced on disk to new handshakes within 2 s, while an open HTTP/2 connection goes on', async () => {
    const { port, replace } = await startEdge();
    const session: ClientHttp2Session = http2Connect(`https://127.0.0.1:${port}`, { servername: 'shop.test', ca: shop.cert });
    session.on('error', () => undefined);
    const call = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':path': '/api/ping', ':authority': 'shop.test' });
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.end();
      });
    expect(await call()).toBe(200);
    const before = (await served(port, 'shop.test')).fingerprint;
    replace('shop', selfSignedCertificate({ names: ['shop.test'] }));
    const replacedAt = Date.now();
    let after = before;
    while (after === before && Date.now() - replacedAt < 2_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = (await served(port, 'shop.test')).fingerprint;
    }
    expect(after).not.toBe(before);
    expect(await call()).toBe(200);
    expect(session.closed || session.destroyed).toBe(false);
    session.close();
  });

  it('redirects plaintext requests to the same URL on https with 308', async () => {
    const { gateway, port } = await startEdge();
    const answer = await h1Request(gateway.port('gateway.edge.redirect'), { path: '/cart?id=7', headers: { host: 'shop.test' } });
    expect(answer.status).toBe(308);
    expect(answer.headers.location).toBe(`https://shop.test:${port}/cart?id=7`);
  });
});
