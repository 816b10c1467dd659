import type { EndpointHealth, EndpointSpec } from '../../discovery/resolver.js';
import { endpointId } from '../../discovery/resolver.js';
import type { BalancerEndpoint } from '../balancer/balancer.js';
import type { ActiveHealthState } from '../health/activeHealthChecker.js';
import type { ConnectionPool } from '../upstream/pool.js';

/** What the endpoints of one upstream share: requests in flight over all of them. */
export class UpstreamLoad {
  activeRequests = 0;
}

/** One endpoint of an upstream: what discovery says about it, its live counters and its connections. */
export class Endpoint implements BalancerEndpoint {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** The SPIFFE ID discovery says the endpoint proves over TLS; see `EndpointSpec.identity`. */
  readonly identity: string | undefined;
  weight: number;
  /**
   * `weight` scaled by slow start; what balancers use. Written by the endpoint's `EndpointSet` only, as
   * are `eligibleSince`, `ejected` and `activeHealth`: the set alone decides eligibility.
   */
  effectiveWeight: number;
  health: EndpointHealth;
  metadata: Readonly<Record<string, string>>;
  /**
   * When the endpoint last became eligible (on the cluster's clock), for slow start; undefined for
   * endpoints that were there from the first discovery answer, which are never in slow start.
   */
  eligibleSince: number | undefined;
  /** Requests dispatched and not yet finished. */
  activeRequests = 0;
  /** Finished requests, and those that counted as failures. */
  totalRequests = 0;
  totalFailures = 0;
  /** Passive outlier detection took it out of rotation for a while. */
  ejected = false;
  /** What active health checking says (`unknown` until checked, or when no check is configured). */
  activeHealth: ActiveHealthState = 'unknown';

  constructor(
    spec: EndpointSpec,
    readonly pool: ConnectionPool,
    eligibleSince: number | undefined,
    private readonly load: UpstreamLoad = new UpstreamLoad(),
  ) {
    this.id = endpointId(spec);
    this.address = spec.address;
    this.port = spec.port;
    this.identity = spec.identity;
    this.weight = spec.weight;
    this.effectiveWeight = spec.weight;
    this.health = spec.health;
    this.metadata = spec.metadata;
    this.eligibleSince = spec.health === 'healthy' ? eligibleSince : undefined;
  }

  /** A request was dispatched to this endpoint. */
  requestStarted(): void {
    this.activeRequests++;
    this.load.activeRequests++;
  }

  /** A request dispatched here finished, however it finished. Call exactly once per `requestStarted`. */
  requestFinished(success: boolean): void {
    this.activeRequests--;
    this.load.activeRequests--;
    this.totalRequests++;
    if (!success) this.totalFailures++;
  }

  /**
   * Takes new requests: discovery says healthy, outlier detection has not ejected it, active health
   * checking (if any) has not failed it, and it has not said it is going away (HTTP/2 GOAWAY) without
   * accepting a connection since — excluded if any of them says so. Draining endpoints finish what
   * they have.
   */
  get eligible(): boolean {
    return this.health === 'healthy' && !this.ejected && this.activeHealth !== 'unhealthy' && !this.pool.goneAway;
  }

  /**
   * Takes discovery's new view; returns true if anything a balancer sees changed.
   * @param now the cluster's clock, recorded when the endpoint becomes eligible again (slow start).
   */
  apply(spec: EndpointSpec, now: number): boolean {
    const changed = spec.weight !== this.weight || spec.health !== this.health || !sameLabels(spec.metadata, this.metadata);
    if (spec.health === 'healthy' && this.health !== 'healthy') this.eligibleSince = now;
    this.weight = spec.weight;
    this.health = spec.health;
    this.metadata = spec.metadata;
    return changed;
  }

  toJSON(): object {
    const pool = this.pool.stats();
    return {
      address: this.address,
      port: this.port,
      ...(this.identity === undefined ? {} : { identity: this.identity }),
      weight: this.weight,
      effective_weight: round(this.effectiveWeight),
      health: this.health,
      eligible: this.eligible,
      ejected: this.ejected,
      gone_away: this.pool.goneAway,
      active_health: this.activeHealth,
      active_requests: this.activeRequests,
      total_requests: this.totalRequests,
      total_failures: this.totalFailures,
      connections: pool.connections,
      metadata: this.metadata,
    };
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
