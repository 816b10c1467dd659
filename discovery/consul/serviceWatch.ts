import { fullJitterBackoffMs } from '../../sidecar/core/backoff.js';
import { createLogger } from '../../sidecar/core/log.js';
import { sleep } from '../../sidecar/core/sleep.js';
import { TokenBucket } from '../../sidecar/core/tokenBucket.js';
import type { EndpointSpec, ResolverListener } from '../resolver.js';
import type { ConsulReads } from './consulHttp.js';
import { endpointsFromHealth, type HealthEntry } from './healthEntries.js';

const log = createLogger('discovery.consul');

/** Retry pacing after a failed query: short enough that a recovered agent is seen within ~2 s. */
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 2_000;
/**
 * Added to Consul's own wait + wait/16 jitter before a query counts as hung: time for the query and
 * its answer to travel and for the agent to build a large answer. Never more than the wait itself, so
 * a watch configured with a short wait to see changes quickly also sees a hung agent quickly.
 */
const MAX_TIMEOUT_MARGIN_MS = 5_000;

export interface WatchOptions {
  readonly waitMs: number;
  readonly perSecond: number;
  readonly burst: number;
  /** Query parameters every health query carries: dc, tag, filter, ns, partition. */
  readonly query: Readonly<Record<string, string>>;
  /** A uniform number in [0, 1) for the retry jitter; Math.random unless a test fixes it. */
  readonly random?: () => number;
}

/**
 * One service's blocking-query loop on `/v1/health/service/:name`, shared by every upstream that
 * resolves that service. The rules (DESIGN.md §5, Consul's blocking-query docs): always send an
 * explicit `wait`; send back the last `X-Consul-Index`; when it goes backwards (a snapshot restore, an
 * agent restart) or after any error, start over from 0, which asks for the full state without
 * blocking; treat an index
 * below 1 as 1 so a buggy answer cannot make every query return at once; take a token per query so
 * churn cannot become a busy loop; and on errors keep the last endpoints and retry with jittered
 * backoff. Every answer is the service's complete instance list, so each is delivered as a reset.
 */
export class ServiceWatch {
  private readonly listeners = new Set<ResolverListener>();
  private readonly abort = new AbortController();
  private readonly bucket: TokenBucket;
  private endpoints: readonly EndpointSpec[] | undefined;
  private lastError: Error | undefined;
  private running: Promise<void> | undefined;
  /** The index the next query sends. */
  private index = 0;

  constructor(
    readonly service: string,
    private readonly connection: ConsulReads,
    private readonly options: WatchOptions,
  ) {
    this.bucket = new TokenBucket(options.perSecond, options.burst);
  }

  /** Adds a listener; it hears the current state at once if there is one. Starts the loop on first use. */
  subscribe(listener: ResolverListener): void {
    this.listeners.add(listener);
    if (this.endpoints !== undefined) listener.onUpdate({ kind: 'reset', endpoints: this.endpoints });
    else if (this.lastError !== undefined) listener.onError(this.lastError);
    this.running ??= this.loop();
  }

  /** Removes a listener; returns true when none is left (the caller then stops the watch). */
  unsubscribe(listener: ResolverListener): boolean {
    this.listeners.delete(listener);
    return this.listeners.size === 0;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.bucket.take(signal);
        const { entries, index } = await this.query(signal);
        failures = 0;
        this.advance(index);
        this.deliver(endpointsFromHealth(entries));
      } catch (error) {
        if (signal.aborted) return;
        // The agent may have restarted with a lower index, and a query with the old one would then
        // block for a whole `wait` before noticing: after an error, ask for the full state at once.
        this.index = 0;
        failures++;
        this.fail(error as Error, failures);
        await sleep(fullJitterBackoffMs(failures, RETRY_BASE_MS, RETRY_MAX_MS, this.options.random), signal).catch(() => undefined);
      }
    }
  }

  private async query(signal: AbortSignal): Promise<{ entries: HealthEntry[]; index: number }> {
    const query = new URLSearchParams(this.options.query);
    query.set('index', String(this.index));
    query.set('wait', `${this.options.waitMs}ms`);
    // Consul answers index 0 at once; any other index may be held for the wait plus its jitter.
    const heldMs = this.index === 0 ? 0 : this.options.waitMs + this.options.waitMs / 16;
    const marginMs = Math.min(MAX_TIMEOUT_MARGIN_MS, this.options.waitMs);
    const response = await this.connection.get(`/v1/health/service/${encodeURIComponent(this.service)}`, query, { timeoutMs: heldMs + marginMs, signal });
    const index = Number(response.headers['x-consul-index']);
    if (!Number.isSafeInteger(index)) throw new Error(`consul: health of "${this.service}" came without a usable X-Consul-Index`);
    const entries = JSON.parse(response.body) as unknown;
    if (!Array.isArray(entries)) throw new Error(`consul: health of "${this.service}" is not a list`);
    return { entries: entries as HealthEntry[], index };
  }

  private advance(answered: number): void {
    // Below 1 counts as 1 before comparing too: an agent stuck at index 0 must not look like one whose
    // index goes backwards on every other query.
    const index = Math.max(1, answered);
    if (index < this.index) {
      log.info('consul index went backwards; resyncing', { service: this.service, from: this.index, to: answered });
      this.index = 0;
    } else this.index = index;
  }

  private deliver(endpoints: readonly EndpointSpec[]): void {
    if (this.lastError !== undefined) log.info('consul reachable again', { service: this.service });
    this.endpoints = endpoints;
    this.lastError = undefined;
    for (const listener of this.listeners) listener.onUpdate({ kind: 'reset', endpoints });
  }

  private fail(error: Error, failures: number): void {
    this.lastError = error;
    // The first failure of a run is worth a line; the listeners (clusters) record every one.
    if (failures === 1) log.warn('consul query failed; keeping the last known endpoints', { service: this.service, error });
    for (const listener of this.listeners) listener.onError(error);
  }
}
