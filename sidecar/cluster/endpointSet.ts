import type { EndpointSpec, EndpointUpdate } from '../../discovery/resolver.js';
import { endpointId } from '../../discovery/resolver.js';
import type { ConnectionPool } from '../upstream/pool.js';
import { Endpoint } from './endpoint.js';

/**
 * The endpoints of one upstream, kept in step with discovery. It alone decides which endpoints may take
 * new requests. An endpoint that stays across a reset keeps its connections and counters; one that
 * leaves closes its pool gracefully, so requests in flight on it finish.
 */
export class EndpointSet {
  private readonly byId = new Map<string, Endpoint>();
  private eligibleCache: readonly Endpoint[] | undefined;

  constructor(private readonly createPool: (spec: EndpointSpec) => ConnectionPool) {}

  /** Applies a discovery update; returns true when the eligible endpoints or their weights changed. */
  apply(update: EndpointUpdate): boolean {
    let changed = false;
    switch (update.kind) {
      case 'reset': {
        const keep = new Set<string>();
        for (const spec of update.endpoints) {
          keep.add(endpointId(spec));
          changed = this.upsert(spec) || changed;
        }
        for (const id of [...this.byId.keys()]) if (!keep.has(id)) changed = this.delete(id) || changed;
        break;
      }
      case 'add':
        for (const spec of update.endpoints) changed = this.upsert(spec) || changed;
        break;
      case 'remove':
        for (const spec of update.endpoints) changed = this.delete(endpointId(spec)) || changed;
        break;
    }
    if (changed) this.eligibleCache = undefined;
    return changed;
  }

  /** Endpoints that may take new requests, in a stable order. */
  eligible(): readonly Endpoint[] {
    return (this.eligibleCache ??= [...this.byId.values()].filter((endpoint) => endpoint.eligible));
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
    this.eligibleCache = [];
  }

  private upsert(spec: EndpointSpec): boolean {
    const existing = this.byId.get(endpointId(spec));
    if (existing !== undefined) return existing.apply(spec);
    const endpoint = new Endpoint(spec, this.createPool(spec));
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
