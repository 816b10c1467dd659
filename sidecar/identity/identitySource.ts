import type { IdentityMaterial } from './material.js';

/** The last attempt to get a certificate, for `/identity`. */
export interface RenewalRecord {
  readonly at: Date;
  /** `ok`, or why it failed. */
  readonly outcome: string;
}

export type MaterialListener = (material: IdentityMaterial) => void;

/**
 * Where a sidecar's identity comes from (Tandem's CA, or files managed elsewhere). It publishes whole
 * `IdentityMaterial` values; listeners (the TLS acceptor and connector) swap them in for new
 * handshakes, and nothing already connected is touched.
 */
export abstract class IdentitySource {
  private material: IdentityMaterial | undefined;
  private readonly listeners = new Set<MaterialListener>();
  private lastRenewal: RenewalRecord | undefined;
  private lastSuccess: RenewalRecord | undefined;
  protected closed = false;

  /** Resolves once there is a first certificate. */
  abstract start(): Promise<void>;

  /** The material to use now; undefined until `start` resolves. */
  get current(): IdentityMaterial | undefined {
    return this.material;
  }

  /** The last attempt and the last success (the same record when the last attempt succeeded). */
  get renewals(): { readonly last: RenewalRecord | undefined; readonly lastSuccess: RenewalRecord | undefined } {
    return { last: this.lastRenewal, lastSuccess: this.lastSuccess };
  }

  /** Calls `listener` with every new material from now on; returns a function that stops it. */
  onChange(listener: MaterialListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
  }

  protected publish(material: IdentityMaterial, record: RenewalRecord): void {
    this.material = material;
    this.lastRenewal = record;
    this.lastSuccess = record;
    for (const listener of this.listeners) listener(material);
  }

  protected recordFailure(record: RenewalRecord): void {
    this.lastRenewal = record;
  }
}
