import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { pemBlocks } from '../../ca/keys.js';
import { caServerId, soleSpiffeId } from '../../ca/spiffe.js';
import { spiffeIdOf } from './material.js';

/** A CA answer larger than this is not one (a chain and a bundle are a few KiB). */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface SignedChain {
  readonly chainPem: string;
  readonly bundlePem: string;
  readonly bundleIndex: number;
}

export interface Bundle {
  readonly bundlePem: string;
  readonly index: number;
}

/** How a sign request proves who the sidecar is: its join token, or its current key and certificate. */
export type SignAuth = { readonly token: string } | { readonly keyPem: string; readonly chainPem: string };

export class CaRequestError extends Error {
  override readonly name = 'CaRequestError';
  constructor(
    message: string,
    /** The CA's HTTP status; undefined when it was not reached. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * The sidecar's side of the CA's API (`ca/server.ts`). The CA is trusted the way a peer is: its
 * certificate must chain to the trust bundle and carry the CA's own SPIFFE ID in the bundle's trust
 * domain — never a hostname.
 */
export class CaClient {
  constructor(
    private readonly address: URL,
    /** Roots to trust the CA by; the bundle file at first, then the bundle the CA publishes. */
    private trustPem: string,
  ) {}

  trust(bundlePem: string): void {
    this.trustPem = bundlePem;
  }

  async sign(csrPem: string, auth: SignAuth, timeoutMs: number): Promise<SignedChain> {
    const body = JSON.stringify({ csr: csrPem });
    const credentials = 'token' in auth ? { headers: { authorization: `Bearer ${auth.token}` } } : { key: auth.keyPem, cert: auth.chainPem };
    const answer = await this.call('POST', '/v1/sign', { body, timeoutMs, ...credentials });
    const { certificate_chain_pem: chainPem, bundle_pem: bundlePem, bundle_index: bundleIndex } = answer as Record<string, unknown>;
    if (typeof chainPem !== 'string' || typeof bundlePem !== 'string' || typeof bundleIndex !== 'number') throw new CaRequestError('the CA answered a sign request without a chain and bundle');
    return { chainPem, bundlePem, bundleIndex };
  }

  /** The bundle, once its index differs from `index` or after `waitMs` (then possibly unchanged). */
  async watchBundle(index: number, waitMs: number, signal?: AbortSignal): Promise<Bundle> {
    const answer = await this.call('GET', `/v1/bundle?index=${index}&wait=${Math.round(waitMs)}ms`, { timeoutMs: waitMs + 10_000, signal });
    const { bundle_pem: bundlePem, index: newIndex } = answer as Record<string, unknown>;
    if (typeof bundlePem !== 'string' || typeof newIndex !== 'number') throw new CaRequestError('the CA answered a bundle request without a bundle');
    return { bundlePem, index: newIndex };
  }

  private call(
    method: string,
    path: string,
    options: { body?: string; timeoutMs: number; headers?: Record<string, string>; key?: string; cert?: string; signal?: AbortSignal | undefined },
  ): Promise<unknown> {
    const expected = expectedCaId(this.trustPem);
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.address),
        {
          method,
          ca: this.trustPem,
          key: options.key,
          cert: options.cert,
          headers: { ...options.headers, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
          checkServerIdentity: (_host: string, certificate: PeerCertificate) => checkCaIdentity(certificate, expected),
          timeout: options.timeoutMs,
          signal: options.signal,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new CaRequestError('the CA answer is too large'));
            else chunks.push(chunk);
          });
          res.once('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              reject(new CaRequestError(`the CA answered ${res.statusCode ?? '?'} with a body that is not JSON`, res.statusCode));
              return;
            }
            if (res.statusCode === 200) resolve(parsed);
            else reject(new CaRequestError(`the CA refused (${res.statusCode ?? '?'}): ${JSON.stringify((parsed as { error?: unknown }).error ?? '')}`, res.statusCode));
          });
          res.once('error', reject);
        },
      );
      req.once('timeout', () => req.destroy(new CaRequestError(`no answer from the CA at ${this.address.origin} within ${options.timeoutMs} ms`)));
      req.once('error', (error) => reject(error instanceof CaRequestError ? error : new CaRequestError(`cannot reach the CA at ${this.address.origin}: ${error.message}`)));
      req.end(options.body);
    });
  }
}

/** The CA's SPIFFE ID in the trust domain of the bundle's first root (a root's URI SAN is `spiffe://<domain>`). */
function expectedCaId(bundlePem: string): string | undefined {
  const root = pemBlocks(bundlePem)[0];
  const id = root === undefined ? undefined : spiffeIdOf(new X509Certificate(root));
  return id === undefined ? undefined : caServerId(id.trustDomain).uri;
}

function checkCaIdentity(certificate: PeerCertificate, expected: string | undefined): Error | undefined {
  if (expected === undefined) return new Error('the trust bundle has no SPIFFE trust domain to check the CA against');
  const presented = soleSpiffeId(certificate.subjectaltname);
  if (!('problem' in presented) && presented.uri === expected) return undefined;
  return new Error(`the CA presented ${'problem' in presented ? `no single SPIFFE ID (${presented.problem})` : presented.uri}, expected ${expected}`);
}
