import { createCsr } from '../../ca/csr.js';
import { generateKeys, privateKeyPem } from '../../ca/keys.js';
import type { SpiffeId } from '../../ca/spiffe.js';
import { fullJitterBackoffMs } from '../core/backoff.js';
import { createLogger } from '../core/log.js';
import { sleep } from '../core/sleep.js';
import { CaClient, type SignAuth } from './caClient.js';
import { IdentitySource } from './identitySource.js';
import { identityMaterial, type IdentityMaterial } from './material.js';

const log = createLogger('identity');

/** Renewal at 2/3 of a certificate's life, ± this share of it: a fleet started together does not renew together. */
const RENEW_AT = 2 / 3;
const RENEW_JITTER = 0.05;
/** Failed renewals retry with full-jitter backoff from 1 s up to 30 s (at most a quarter of the life left), for as long as the certificate lasts. */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const MIN_RETRY_MS = 100;
/** One request to the CA. */
const REQUEST_TIMEOUT_MS = 10_000;
/** A bundle watch asks the CA to hold the request this long when nothing changes. */
const BUNDLE_WAIT_MS = 60_000;

export interface CaIdentityOptions {
  readonly id: SpiffeId;
  readonly caAddress: URL;
  /** Roots to trust the CA by on first contact. */
  readonly bundlePem: string;
  /** Read when a certificate is first needed (and again whenever the CA refuses a renewal by certificate). */
  readonly readToken: () => string;
  readonly random?: () => number;
}

/**
 * An identity from Tandem's CA: a fresh P-256 key and CSR for every certificate; the first signed on
 * the join token, each renewal on the certificate it replaces. Renews at a jittered 2/3 of the
 * lifetime; when the CA cannot be reached it keeps the current certificate and retries with backoff.
 * It also watches the CA's bundle, and on a change (a root rotated in or retired) takes the new bundle
 * and re-issues at once, so its leaf moves to the new root.
 */
export class CaIdentity extends IdentitySource {
  private readonly client: CaClient;
  private bundleIndex = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private readonly watching = new AbortController();
  private renewing: Promise<void> | undefined;

  constructor(private readonly options: CaIdentityOptions) {
    super();
    this.client = new CaClient(options.caAddress, options.bundlePem);
  }

  /** Resolves with the first certificate; until then the sidecar is not ready. Retries until it gets one or is closed. */
  async start(): Promise<void> {
    while (this.current === undefined && !this.closed) {
      try {
        await this.issue();
      } catch (error) {
        this.failures++;
        const delay = fullJitterBackoffMs(this.failures, RETRY_BASE_MS, RETRY_MAX_MS, this.options.random);
        log.warn('cannot obtain a certificate yet; retrying', { id: this.options.id.uri, error: (error as Error).message, retry_in_ms: Math.round(delay) });
        await sleep(delay, this.watching.signal).catch(() => undefined); // ends at once on close
      }
    }
    void this.watchBundle();
  }

  override close(): void {
    super.close();
    clearTimeout(this.renewTimer);
    this.watching.abort();
  }

  /** Gets a certificate signed now (renewal, or after a bundle change). Only one at a time. */
  private issue(): Promise<void> {
    this.renewing ??= this.signNew().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async signNew(): Promise<void> {
    const keys = await generateKeys('ecdsa-p256');
    const csr = await createCsr(keys, this.options.id);
    const current = this.current;
    const auth: SignAuth = current !== undefined && current.notAfter.getTime() > Date.now() ? { keyPem: current.keyPem, chainPem: current.chainPem } : { token: this.options.readToken().trim() };
    const startedAt = new Date();
    try {
      const signed = await this.client.sign(csr, auth, REQUEST_TIMEOUT_MS);
      const material = identityMaterial(await privateKeyPem(keys.privateKey), signed.chainPem, signed.bundlePem);
      if (material.id.uri !== this.options.id.uri) throw new Error(`the CA issued "${material.id.uri}", not "${this.options.id.uri}"`);
      this.client.trust(signed.bundlePem);
      this.bundleIndex = signed.bundleIndex;
      this.failures = 0;
      this.publish(material, { at: startedAt, outcome: 'ok' });
      this.scheduleRenewal(material);
      log.info('certificate obtained', { id: material.id.uri, serial: material.serial, not_after: material.notAfter.toISOString(), by: 'token' in auth ? 'join token' : 'certificate' });
    } catch (error) {
      this.recordFailure({ at: startedAt, outcome: (error as Error).message });
      if (current !== undefined) this.retryRenewal(current, error as Error);
      throw error;
    }
  }

  /**
   * The lifetime counts from when the certificate arrived, not its NotBefore: CAs back-date that (ours
   * by a minute), which would make a short-lived certificate look two-thirds spent on arrival.
   */
  private scheduleRenewal(material: IdentityMaterial): void {
    const life = material.notAfter.getTime() - Date.now();
    const share = RENEW_AT + ((this.options.random ?? Math.random)() * 2 - 1) * RENEW_JITTER;
    this.setRenewTimer(life * share);
  }

  /** Backs off as usual, but never past a quarter of the life left: the closer the expiry, the more often it asks. */
  private retryRenewal(current: IdentityMaterial, error: Error): void {
    this.failures++;
    const left = current.notAfter.getTime() - Date.now();
    const delay = Math.min(fullJitterBackoffMs(this.failures, RETRY_BASE_MS, RETRY_MAX_MS, this.options.random), Math.max(MIN_RETRY_MS, left / 4));
    log.warn('certificate renewal failed; serving on the current one and retrying', {
      id: current.id.uri,
      error: error.message,
      expires_in_s: Math.round((current.notAfter.getTime() - Date.now()) / 1000),
      retry_in_ms: Math.round(delay),
    });
    this.setRenewTimer(delay);
  }

  private setRenewTimer(delayMs: number): void {
    clearTimeout(this.renewTimer);
    if (this.closed) return;
    this.renewTimer = setTimeout(() => void this.issue().catch(() => undefined), Math.max(0, delayMs));
    this.renewTimer.unref();
  }

  /** Long-polls the CA's bundle; a new one is trusted at once and the leaf re-issued under the active root. */
  private async watchBundle(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        const bundle = await this.client.watchBundle(this.bundleIndex, BUNDLE_WAIT_MS, this.watching.signal);
        failures = 0;
        if (bundle.index === this.bundleIndex || this.current === undefined) continue;
        log.info('trust bundle changed; re-issuing', { index: bundle.index });
        this.bundleIndex = bundle.index;
        this.client.trust(bundle.bundlePem);
        await this.issue().catch(() => undefined);
      } catch (error) {
        if (this.closed) return;
        failures++;
        const delay = fullJitterBackoffMs(failures, RETRY_BASE_MS, RETRY_MAX_MS, this.options.random);
        log.debug('bundle watch failed; retrying', { error: (error as Error).message, retry_in_ms: Math.round(delay) });
        await sleep(delay, this.watching.signal).catch(() => undefined); // ends at once on close
      }
    }
  }
}
