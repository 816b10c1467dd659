import { unwatchFile, watchFile } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { parseDurationMs } from '../sidecar/core/duration.js';
import { createLogger } from '../sidecar/core/log.js';
import { issueLeaf } from './certificates.js';
import { MAX_CSR_BYTES } from './csr.js';
import { generateKeys, privateKeyPem } from './keys.js';
import { Refusal, signWorkload } from './signer.js';
import { caServerId, soleSpiffeId } from './spiffe.js';
import { openCa, revokedTokens, type CaState } from './store.js';
import { MAX_TOKEN_BYTES } from './tokens.js';

const log = createLogger('ca');

/** A sign request is a CSR and a little JSON around it. */
const MAX_BODY_BYTES = MAX_CSR_BYTES + 1024;
/** Longest a bundle watch may wait before it is answered unchanged. */
const MAX_WAIT_MS = 5 * 60_000;
/** How often the CA directory is looked at for a rotation, a retirement or a revoked token. */
const RELOAD_INTERVAL_MS = 500;
/** A directory that cannot be read is looked at again after 0.5 s, 1 s, 2 s … up to this. */
const MAX_RELOAD_RETRY_MS = 30_000;
/** Slow clients get this long for a whole request (the CA's requests are small). */
const REQUEST_TIMEOUT_MS = 10_000;

export interface CaServerOptions {
  readonly dir: string;
  readonly address: string;
  readonly port: number;
}

/**
 * `tandem ca serve`: the CA's HTTPS API.
 *
 *   POST /v1/sign     { "csr": PEM } with `Authorization: Bearer <join token>`, or over a connection
 *                     presenting the caller's current certificate (renewal) → the certificate chain
 *   GET  /v1/bundle   the trust bundle; `?index=N&wait=30s` waits (up to 5 min) for it to move past N
 *   GET  /v1/health   200 while serving
 *
 * The API serves with a certificate of its own from the active root, for `spiffe://<trust
 * domain>/ns/tandem/svc/tandem-ca` (plus `localhost` and the listen address, for curl), re-issued at
 * two thirds of its life and whenever the directory changes (a rotation).
 */
export class CaServer {
  private state: CaState;
  private readonly server: Server;
  private waiters = new Set<() => void>();
  private renewTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  private reloadFailures = 0;
  private reloadRetry: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly options: CaServerOptions,
    state: CaState,
    serving: { key: string; cert: string },
  ) {
    this.state = state;
    this.server = createServer(
      {
        ...serving,
        ca: state.bundlePem,
        // Asked for, not required: a first request authenticates with a join token instead.
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        headersTimeout: REQUEST_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
      },
      (req, res) => void this.handle(req, res),
    );
    this.server.on('tlsClientError', (error) => log.debug('TLS handshake failed', { error: error.message }));
  }

  static async start(options: CaServerOptions): Promise<CaServer> {
    const state = await openCa(options.dir);
    const caServer = new CaServer(options, state, await servingIdentity(state, options.address));
    await new Promise<void>((resolve, reject) => {
      caServer.server.once('error', reject);
      caServer.server.listen(options.port, options.address, () => resolve());
    });
    caServer.scheduleRenewal();
    watchFile(join(options.dir, 'ca.json'), { interval: RELOAD_INTERVAL_MS }, () => void caServer.reload());
    // A change between the first load and the watch's first look would otherwise wait for the next one.
    await caServer.reload();
    log.info('CA serving', { address: options.address, port: caServer.port, trust_domain: state.trustDomain, bundle_index: state.bundleIndex });
    return caServer;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.options.port;
  }

  async close(): Promise<void> {
    this.closed = true;
    unwatchFile(join(this.options.dir, 'ca.json'));
    clearTimeout(this.renewTimer);
    clearTimeout(this.reloadRetry);
    for (const wake of this.waiters) wake();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Picks up what `tandem ca rotate` / `retire` wrote: new signer and bundle, a new serving certificate.
   * A change seen while a reload runs gets a reload of its own after it; a reload that fails (the
   * directory caught mid-change, a file missing) is tried again on the next interval, since the watch
   * only speaks when ca.json changes.
   */
  private reload(): Promise<void> {
    if (this.reloading !== undefined) {
      this.reloadAgain = true;
      return this.reloading;
    }
    clearTimeout(this.reloadRetry);
    this.reloading = this.loadDirectory().finally(() => {
      this.reloading = undefined;
      if (this.reloadAgain && !this.closed) {
        this.reloadAgain = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  private async loadDirectory(): Promise<void> {
    try {
      const state = await openCa(this.options.dir);
      if (state.bundleIndex === this.state.bundleIndex && state.signer.certificate.serialNumber === this.state.signer.certificate.serialNumber) {
        this.reloadFailures = 0;
        return;
      }
      // State and TLS context change together: a retired root is no longer trusted once the new bundle is reported.
      const serving = await servingIdentity(state, this.options.address);
      this.reloadFailures = 0;
      this.state = state;
      this.server.setSecureContext({ ...serving, ca: state.bundlePem });
      this.scheduleRenewal();
      log.info('CA state reloaded', { bundle_index: state.bundleIndex, roots: state.roots.length, active_root: state.signer.certificate.serialNumber });
      const waiters = this.waiters;
      this.waiters = new Set();
      for (const wake of waiters) wake();
    } catch (error) {
      const retryInMs = Math.min(RELOAD_INTERVAL_MS * 2 ** this.reloadFailures++, MAX_RELOAD_RETRY_MS);
      log.error('cannot reload the CA directory; serving with the state loaded before', { error: (error as Error).message, retry_in_ms: retryInMs });
      if (this.closed) return;
      this.reloadRetry = setTimeout(() => void this.reload(), retryInMs);
      this.reloadRetry.unref();
    }
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => {
      void servingIdentity(this.state, this.options.address).then(
        (serving) => {
          this.server.setSecureContext({ ...serving, ca: this.state.bundlePem });
          this.scheduleRenewal();
        },
        (error: unknown) => log.error('cannot renew the CA serving certificate', { error: (error as Error).message }),
      );
    }, (this.state.leafTtlMs * 2) / 3);
    this.renewTimer.unref();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://ca');
    try {
      switch (url.pathname) {
        case '/v1/health':
          if (req.method !== 'GET') return reply(res, 405, { error: 'use GET' });
          return reply(res, 200, { status: 'serving', trust_domain: this.state.trustDomain, bundle_index: this.state.bundleIndex });
        case '/v1/bundle':
          if (req.method !== 'GET') return reply(res, 405, { error: 'use GET' });
          return await this.bundle(url, req, res);
        case '/v1/sign':
          if (req.method !== 'POST') return reply(res, 405, { error: 'use POST' });
          return await this.sign(req, res);
        default:
          return reply(res, 404, { error: `no such endpoint: ${url.pathname}` });
      }
    } catch (error) {
      log.error('CA request failed', { path: url.pathname, error: (error as Error).message });
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
    }
  }

  private async bundle(url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const index = url.searchParams.get('index');
    const wait = url.searchParams.get('wait');
    const waitMs = wait === null ? MAX_WAIT_MS : parseDurationMs(wait);
    if (waitMs === undefined) return reply(res, 400, { error: `wait: expected a duration such as "30s", got "${(wait ?? '').slice(0, 50)}"` });
    if (index !== null && Number(index) === this.state.bundleIndex && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const waiters = this.waiters;
        const timer = setTimeout(done, Math.min(waitMs, MAX_WAIT_MS));
        function done(): void {
          clearTimeout(timer);
          // A watch that ends unwoken unhooks itself: a kept-alive connection carries many watches.
          waiters.delete(done);
          req.socket.off('close', done);
          resolve();
        }
        waiters.add(done);
        req.socket.once('close', done);
      });
    }
    const state = this.state;
    reply(res, 200, { trust_domain: state.trustDomain, index: state.bundleIndex, bundle_pem: state.bundlePem });
  }

  private async sign(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) return refuse(res, remote, new Refusal(400, `the request body is larger than ${MAX_BODY_BYTES} bytes`), 413);
    let csrPem: unknown;
    try {
      csrPem = (JSON.parse(body) as { csr?: unknown }).csr;
    } catch {
      return refuse(res, remote, new Refusal(400, 'the request body is not JSON'));
    }
    if (typeof csrPem !== 'string') return refuse(res, remote, new Refusal(400, 'the request body has no "csr" string'));
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    const token = /^bearer +(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token !== undefined && Buffer.byteLength(token) > MAX_TOKEN_BYTES) return refuse(res, remote, new Refusal(401, 'the join token is too long'));
    const state = this.state;
    try {
      const issued = await signWorkload(state, await revokedTokens(state.dir), { csrPem, token, clientId: verifiedClientId(req.socket as TLSSocket) });
      log.info('certificate issued', { spiffe_id: issued.spiffeId, serial: issued.serial, not_after: issued.notAfter.toISOString(), by: issued.authenticatedBy, remote });
      reply(res, 200, {
        spiffe_id: issued.spiffeId,
        serial: issued.serial,
        not_after: issued.notAfter.toISOString(),
        certificate_chain_pem: issued.chainPem,
        bundle_pem: state.bundlePem,
        bundle_index: state.bundleIndex,
      });
    } catch (error) {
      if (error instanceof Refusal) return refuse(res, remote, error);
      throw error;
    }
  }
}

/** The CA server's own key and certificate, made fresh from the active root. */
async function servingIdentity(state: CaState, address: string): Promise<{ key: string; cert: string }> {
  const keys = await generateKeys('ecdsa-p256');
  const names = address === '' || address === '0.0.0.0' || address === '::' ? [] : [address];
  const leaf = await issueLeaf(state.signer, {
    publicKey: keys.publicKey,
    id: caServerId(state.trustDomain),
    ttlMs: state.leafTtlMs,
    dnsNames: ['localhost', ...names.filter((name) => isIP(name) === 0)],
    ipAddresses: ['127.0.0.1', '::1', ...names.filter((name) => isIP(name) !== 0 && name !== '127.0.0.1' && name !== '::1')],
  });
  const cert = [leaf, ...state.intermediates].map((certificate) => certificate.toString('pem') + '\n').join('');
  return { key: await privateKeyPem(keys.privateKey), cert };
}

/** The SPIFFE ID of a client certificate that TLS verified against the bundle, if there is exactly one. */
function verifiedClientId(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const id = soleSpiffeId(socket.getPeerCertificate().subjectaltname);
  return 'problem' in id ? undefined : id.uri;
}

/** The body as text, or undefined if it passes `limit` (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function refuse(res: ServerResponse, remote: string, refusal: Refusal, status: number = refusal.status): void {
  log.warn('certificate refused', { spiffe_id: refusal.spiffeId ?? '', status, reason: refusal.message, remote });
  reply(res, status, { error: refusal.message });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
