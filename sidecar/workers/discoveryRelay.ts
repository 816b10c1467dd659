import { endpointId, type DiscoveryProvider, type EndpointSpec, type EndpointUpdate, type Resolver } from '../../discovery/resolver.js';
import type { WorkerLink } from './workerLink.js';

interface Watched {
  readonly resolver: Resolver;
  /** The endpoints as last reported, once discovery has answered. */
  endpoints: Map<string, EndpointSpec> | undefined;
  /** The last report, if it was an error. */
  error: string | undefined;
  readonly subscribers: Map<WorkerLink, Set<number>>;
}

/**
 * Discovery for a primary's workers: one watch per service however many workers ask (a single
 * blocking query per service against Consul, as Envoy's main thread keeps one for its workers), each
 * report passed to every worker watching it, and what is known now replayed to one that asks later
 * (a replacement worker).
 */
export class DiscoveryRelay {
  private readonly services = new Map<string, Watched>();

  constructor(readonly provider: DiscoveryProvider) {}

  /** Worker `link` wants `service`'s endpoints, as `endpoints` messages carrying `id`. */
  subscribe(link: WorkerLink, id: number, service: string): void {
    let watched = this.services.get(service);
    if (watched === undefined) {
      const created: Watched = { resolver: this.provider.resolver(service), endpoints: undefined, error: undefined, subscribers: new Map() };
      watched = created;
      this.services.set(service, created);
      created.resolver.start({
        onUpdate: (update) => {
          created.endpoints = apply(created.endpoints, update);
          created.error = undefined;
          this.fanOut(created, update, undefined);
        },
        onError: (error) => {
          created.error = error.message;
          this.fanOut(created, undefined, error.message);
        },
      });
    }
    let ids = watched.subscribers.get(link);
    if (ids === undefined) watched.subscribers.set(link, (ids = new Set()));
    ids.add(id);
    if (watched.endpoints !== undefined) send(link, id, { kind: 'reset', endpoints: [...watched.endpoints.values()] }, undefined);
    if (watched.error !== undefined) send(link, id, undefined, watched.error);
  }

  unsubscribe(link: WorkerLink, id: number): void {
    for (const watched of this.services.values()) watched.subscribers.get(link)?.delete(id);
  }

  /** A worker gone: it is sent nothing more. The watches go on for the others and its replacement. */
  forget(link: WorkerLink): void {
    for (const watched of this.services.values()) watched.subscribers.delete(link);
  }

  async close(): Promise<void> {
    for (const watched of this.services.values()) watched.resolver.stop();
    this.services.clear();
    await this.provider.close();
  }

  private fanOut(watched: Watched, update: EndpointUpdate | undefined, error: string | undefined): void {
    for (const [link, ids] of watched.subscribers) for (const id of ids) send(link, id, update, error);
  }
}

function send(link: WorkerLink, id: number, update: EndpointUpdate | undefined, error: string | undefined): void {
  void link.send({ type: 'endpoints', id, ...(update === undefined ? {} : { update }), ...(error === undefined ? {} : { error }) }).catch(() => undefined);
}

/** The endpoints after `update`. */
function apply(endpoints: Map<string, EndpointSpec> | undefined, update: EndpointUpdate): Map<string, EndpointSpec> {
  const next = update.kind === 'reset' ? new Map<string, EndpointSpec>() : new Map(endpoints);
  for (const endpoint of update.endpoints) {
    if (update.kind === 'remove') next.delete(endpointId(endpoint));
    else next.set(endpointId(endpoint), endpoint);
  }
  return next;
}
