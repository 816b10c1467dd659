import type { DiscoveryProvider, EndpointUpdate, Resolver, ResolverListener } from '../../discovery/resolver.js';
import type { FromWorker } from './messages.js';

/**
 * A worker's discovery: its primary watches each service once for every worker (`discoveryRelay.ts`)
 * and passes the reports on. Registration is the primary's too, so there is none here.
 */
export class DiscoveryFromPrimary implements DiscoveryProvider {
  private readonly listeners = new Map<number, ResolverListener>();
  private nextId = 1;

  constructor(
    readonly kind: string,
    private readonly send: (message: FromWorker) => void,
  ) {}

  resolver(service: string): Resolver {
    const id = this.nextId++;
    return {
      start: (listener) => {
        this.listeners.set(id, listener);
        this.send({ type: 'resolve', id, service });
      },
      stop: () => {
        if (this.listeners.delete(id)) this.send({ type: 'unresolve', id });
      },
    };
  }

  /** An `endpoints` message from the primary. */
  deliver(id: number, update: EndpointUpdate | undefined, error: string | undefined): void {
    const listener = this.listeners.get(id);
    if (listener === undefined) return;
    if (update !== undefined) listener.onUpdate(update);
    if (error !== undefined) listener.onError(new Error(error));
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}
