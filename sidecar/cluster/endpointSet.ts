import type { EndpointSpec, EndpointUpdate } from '../../discovery/resolver.js';
import { endpointId } from '../../discovery/resolver.js';
import type { ConnectionPool } from '../upstream/pool.js';
import type { ActiveHealthState } from '../health/activeHealthChecker.js';
import { Endpoint, UpstreamLoad } from './endpoint.js';
import { slowStartFactor, type SlowStartConfig } from './slowStart.js';

/** What the balancer gets to choose from, and whether the cluster is in panic. */
export interface Routable {
  readonly endpoints: readonly Endpoint[];
  /** Too few endpoints were healthy, so all of them (bar draining ones) are balanced over. */
  readonly panic: boolean;
}

/**
 * The endpoints of one upstream, kept in step with discovery. It alone decides which endpoints may take
 * new requests: the healthy ones, or — in panic, when fewer than `healthy_panic_threshold` percent are
 * healthy — every endpoint that is not draining (Envoy's panic mode: better to spread load over
 * possibly-bad endpoints than to melt the few good ones). An endpoint that stays across a reset keeps
 * its connections and counters; one that leaves closes its pool gracefully, so requests in flight on
 * it finish.
 */
export class EndpointSet {
  private readonly byId = new Map<string, Endpoint>();
  private routableCache: Routable | undefined;
  /** Requests in flight over every endpoint, including ones that left and still finish requests. */
  readonly load = new UpstreamLoad();

  /**
   * @param createPool connections for a new endpoint.
   * @param panicThresholdPercent below this share of healthy endpoints, balance over all; 0 never panics.
   */
  constructor(
    private readonly createPool: (spec: EndpointSpec) => ConnectionPool,
    private readonly panicThresholdPercent: number,
  ) {}

  /**
   * Applies a discovery update; returns true when what balancers see changed.
   * @param now the cluster's clock, for slow start.
   * @param initial the first answer from discovery: its endpoints start at full weight.
   */
  apply(update: EndpointUpdate, now: number, initial = false): boolean {
    const since = initial ? undefined : now;
    let changed = false;
    switch (update.kind) {
      case 'reset': {
        const keep = new Set<string>();
        for (const spec of update.endpoints) {
          keep.add(endpointId(spec));
          changed = this.upsert(spec, since, now) || changed;
        }
        for (const id of [...this.byId.keys()]) if (!keep.has(id)) changed = this.delete(id) || changed;
        break;
      }
      case 'add':
        for (const spec of update.endpoints) changed = this.upsert(spec, since, now) || changed;
        break;
      case 'remove':
        for (const spec of update.endpoints) changed = this.delete(endpointId(spec)) || changed;
        break;
    }
    if (changed) this.routableCache = undefined;
    return changed;
  }

  /** An endpoint's pool went away or came back (`ConnectionPool.goneAway`): eligibility changed. */
  poolAvailabilityChanged(): void {
    this.routableCache = undefined;
  }

  /** Outlier detection ejected `id`, or let it back; returns true when that changed anything. */
  setEjected(id: string, ejected: boolean): boolean {
    const endpoint = this.byId.get(id);
    if (endpoint === undefined || endpoint.ejected === ejected) return false;
    endpoint.ejected = ejected;
    this.routableCache = undefined;
    return true;
  }

  /**
   * Active health checking's verdict on `id`; returns true when that changed anything. An endpoint that
   * passes again after failing ramps up anew (slow start), from `now`.
   */
  setActiveHealth(id: string, state: ActiveHealthState, now: number): boolean {
    const endpoint = this.byId.get(id);
    if (endpoint === undefined || endpoint.activeHealth === state) return false;
    if (state === 'healthy' && endpoint.activeHealth === 'unhealthy') endpoint.eligibleSince = now;
    endpoint.activeHealth = state;
    this.routableCache = undefined;
    return true;
  }

  /**
   * Sets the effective weight of each of `endpoints` (discovery's weight, scaled while in its slow-start
   * window); returns true while any is still ramping up.
   */
  applySlowStart(endpoints: readonly Endpoint[], now: number, slowStart: SlowStartConfig | undefined): boolean {
    let ramping = false;
    for (const endpoint of endpoints) {
      const since = endpoint.eligibleSince;
      const factor = slowStart === undefined || since === undefined ? 1 : slowStartFactor(now - since, slowStart);
      if (factor >= 1) endpoint.eligibleSince = undefined; // out of the window for good
      else ramping = true;
      endpoint.effectiveWeight = endpoint.weight * factor;
    }
    return ramping;
  }

  /** The endpoints to balance over right now, in a stable order. */
  routable(): Routable {
    if (this.routableCache !== undefined) return this.routableCache;
    const all = [...this.byId.values()];
    const healthy = all.filter((endpoint) => endpoint.eligible);
    const candidates = all.filter((endpoint) => endpoint.health !== 'draining');
    const panic = candidates.length > 0 && healthy.length * 100 < this.panicThresholdPercent * candidates.length;
    return (this.routableCache = { endpoints: panic ? candidates : healthy, panic });
  }

  get(id: string): Endpoint | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<Endpoint> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  /** Closes every pool gracefully. */
  close(): void {
    for (const endpoint of this.byId.values()) endpoint.pool.close();
    this.byId.clear();
    this.routableCache = { endpoints: [], panic: false };
  }

  private upsert(spec: EndpointSpec, since: number | undefined, now: number): boolean {
    const existing = this.byId.get(endpointId(spec));
    // Another identity at a known address (a reused pod IP) is another endpoint: its connections,
    // made to verify the old identity, must not carry its traffic.
    if (existing !== undefined && existing.identity !== spec.identity) this.delete(existing.id);
    else if (existing !== undefined) return existing.apply(spec, now);
    const endpoint = new Endpoint(spec, this.createPool(spec), since, this.load);
    this.byId.set(endpoint.id, endpoint);
    return true;
  }

  private delete(id: string): boolean {
    const endpoint = this.byId.get(id);
    if (endpoint === undefined) return false;
    this.byId.delete(id);
    endpoint.pool.close();
    return true;
  }
}
