import type { EndpointHealth, EndpointSpec } from '../../discovery/resolver.js';
import { endpointId } from '../../discovery/resolver.js';
import type { BalancerEndpoint } from '../balancer/balancer.js';
import type { ConnectionPool } from '../upstream/pool.js';

/** One endpoint of an upstream: what discovery says about it, its live counters and its connections. */
export class Endpoint implements BalancerEndpoint {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  weight: number;
  health: EndpointHealth;
  metadata: Readonly<Record<string, string>>;
  /** Requests dispatched and not yet finished. */
  activeRequests = 0;
  /** Finished requests, and those that counted as failures. */
  totalRequests = 0;
  totalFailures = 0;

  constructor(
    spec: EndpointSpec,
    readonly pool: ConnectionPool,
  ) {
    this.id = endpointId(spec);
    this.address = spec.address;
    this.port = spec.port;
    this.weight = spec.weight;
    this.health = spec.health;
    this.metadata = spec.metadata;
  }

  /** Only healthy endpoints take new requests; draining ones finish what they have. */
  get eligible(): boolean {
    return this.health === 'healthy';
  }

  /** Takes discovery's new view; returns true if anything a balancer sees changed. */
  apply(spec: EndpointSpec): boolean {
    const changed = spec.weight !== this.weight || spec.health !== this.health || !sameLabels(spec.metadata, this.metadata);
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
      weight: this.weight,
      health: this.health,
      eligible: this.eligible,
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
