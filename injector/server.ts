import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { openCa, type CaState } from '../ca/store.js';
import { createLogger } from '../sidecar/core/log.js';
import { allowResponse, parseReview, refuseResponse, ReviewError } from './admissionReview.js';
import { decide, type InjectionPath } from './injection.js';
import type { InjectorConfig } from './injectorConfig.js';
import { podLabel } from './pod.js';
import { issueServingCertificate, renewalDelayMs, SERVING_TTL_MS } from './servingCertificate.js';

const log = createLogger('injector');

/** A review carries one pod; the API server caps a request body at 3 MiB, so a larger one is not a review. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** The webhook's timeoutSeconds is 10: a request still unread after that has been given up by its caller. */
const REQUEST_TIMEOUT_MS = 10_000;
/** A failed re-signing (the CA directory caught mid-update) is tried again this much later. */
const RENEW_RETRY_MS = 60_000;
/** How long `close()` lets reviews in flight finish before cutting their connections. */
const CLOSE_GRACE_MS = 5_000;

const PATHS: Readonly<Record<string, InjectionPath>> = { '/inject/namespace': 'namespace', '/inject/pod': 'pod' };

/**
 * `tandem injector serve`: the mutating admission webhook, over HTTPS.
 *
 *   POST /inject/namespace   reviews of pods in namespaces labelled tandem.io/inject=enabled
 *   POST /inject/pod         reviews of pods in other namespaces (injected only when annotated)
 *   GET  /healthz            200 while serving
 *
 * It needs no Kubernetes API access: everything it decides is in the review, and everything it adds
 * comes from injector.yaml and the CA directory.
 */
export class InjectorServer {
  private ca: CaState;
  private readonly server: Server;
  private renewTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly config: InjectorConfig,
    ca: CaState,
    serving: { key: string; cert: string },
    private readonly servingTtlMs: number,
  ) {
    this.ca = ca;
    this.server = createServer(
      { ...serving, minVersion: 'TLSv1.2', headersTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      (req, res) => void this.handle(req, res),
    );
    this.server.on('tlsClientError', (error) => log.debug('TLS handshake failed', { error: error.message }));
  }

  /** Opens the CA directory, signs a serving certificate, and listens. `servingTtlMs` is for tests. */
  static async start(config: InjectorConfig, servingTtlMs = SERVING_TTL_MS): Promise<InjectorServer> {
    const ca = await openCa(config.tls.ca_dir);
    const serving = await issueServingCertificate(ca, config.tls.dns_names, servingTtlMs);
    const injector = new InjectorServer(config, ca, serving, servingTtlMs);
    await new Promise<void>((resolve, reject) => {
      injector.server.once('error', reject);
      injector.server.listen(config.listen.port, config.listen.address, () => resolve());
    });
    injector.scheduleRenewal(renewalDelayMs(serving));
    log.info('injector serving', { address: config.listen.address, port: injector.port, dns_names: config.tls.dns_names.join(','), trust_domain: ca.trustDomain, certificate_expires: serving.notAfter.toISOString() });
    return injector;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.config.listen.port;
  }

  /** Stops accepting, lets reviews in flight finish (up to 5 s), then closes every connection. */
  async close(): Promise<void> {
    clearTimeout(this.renewTimer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const cut = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
    await closed;
    clearTimeout(cut);
  }

  /**
   * Re-signs the serving certificate from the CA directory as it is then (a Secret updated after a
   * root rotation is picked up, and so is a new token key), without a restart.
   */
  private scheduleRenewal(delayMs: number): void {
    this.renewTimer = setTimeout(() => {
      void (async () => {
        try {
          const ca = await openCa(this.config.tls.ca_dir);
          const serving = await issueServingCertificate(ca, this.config.tls.dns_names, this.servingTtlMs);
          this.server.setSecureContext({ key: serving.key, cert: serving.cert, minVersion: 'TLSv1.2' });
          this.ca = ca;
          log.info('serving certificate renewed', { certificate_expires: serving.notAfter.toISOString() });
          this.scheduleRenewal(renewalDelayMs(serving));
        } catch (error) {
          log.error('cannot renew the serving certificate; serving with the current one', { error: (error as Error).message, retry_in_ms: RENEW_RETRY_MS });
          this.scheduleRenewal(RENEW_RETRY_MS);
        }
      })();
    }, delayMs);
    this.renewTimer.unref();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://injector').pathname;
    try {
      if (path === '/healthz') return req.method === 'GET' ? text(res, 200, 'ok') : text(res, 405, 'use GET');
      const injectionPath = PATHS[path];
      if (injectionPath === undefined) return text(res, 404, `no such endpoint: ${path.slice(0, 100)}`);
      if (req.method !== 'POST') return text(res, 405, 'use POST');
      const body = await readBody(req, MAX_BODY_BYTES);
      if (body === undefined) return text(res, 413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
      this.review(injectionPath, body, res);
    } catch (error) {
      log.error('review failed', { path, error: (error as Error).message });
      if (!res.headersSent) text(res, 500, 'internal error');
    }
  }

  private review(path: InjectionPath, body: string, res: ServerResponse): void {
    let request;
    try {
      request = parseReview(body);
    } catch (error) {
      if (!(error instanceof ReviewError)) throw error;
      log.warn('malformed admission review', { path, reason: error.message });
      return text(res, 400, error.message);
    }
    const pod = podLabel(request.pod, request.namespace);
    if (request.operation !== 'CREATE') {
      log.info('pod skipped', { pod, path, reason: `operation ${request.operation}` });
      return json(res, allowResponse(request.uid));
    }
    const decision = decide(path, request.pod, request.namespace, this.config.sidecar, this.ca);
    switch (decision.kind) {
      case 'skip':
        log.info('pod skipped', { pod, path, reason: decision.reason });
        return json(res, allowResponse(request.uid));
      case 'refuse':
        log.warn('pod refused', { pod, path, reason: decision.message });
        return json(res, refuseResponse(request.uid, decision.message));
      case 'inject':
        log.info('pod injected', { pod, path, spiffe_id: decision.spiffeId, join_token: decision.tokenId, service: decision.service, native_sidecar: decision.nativeSidecar });
        return json(res, allowResponse(request.uid, decision.patch));
    }
  }
}

/** The body as text, or undefined once it passes `limit` (the rest is drained, not kept). */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    req.resume();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.once('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function text(res: ServerResponse, status: number, message: string): void {
  const body = `${message}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: ServerResponse, body: object): void {
  const payload = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}
