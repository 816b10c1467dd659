import type { DiscoveryProvider, LocalHealth, LocalService, Registration, Resolver, ResolverListener } from '../resolver.js';
import { linkToAgent, type ConsulAgentLink, type ConsulSecrets } from './agentLink.js';
import type { ConsulConfig } from './consulConfig.js';
import { SelfRegistration } from './selfRegistration.js';
import { ServiceWatch } from './serviceWatch.js';

/**
 * Endpoints from a Consul agent: one blocking-query watch per service name, however many upstreams
 * resolve it, so N watched services hold at most N long-poll connections. Registers the local service
 * when asked (see `SelfRegistration`).
 */
export class ConsulProvider implements DiscoveryProvider {
  readonly kind = 'consul';
  private readonly watches = new Map<string, ServiceWatch>();
  private readonly registrations = new Set<SelfRegistration>();
  private readonly query: Readonly<Record<string, string>>;

  /** `link` is the way to the agent; unit tests pass a fake instead of the HTTP one. */
  constructor(
    private readonly config: ConsulConfig,
    secrets: ConsulSecrets,
    private readonly link: ConsulAgentLink = linkToAgent(config, secrets),
  ) {
    const query: Record<string, string> = {};
    if (config.datacenter !== undefined) query['dc'] = config.datacenter;
    if (config.tag !== undefined) query['tag'] = config.tag;
    if (config.filter !== undefined) query['filter'] = config.filter;
    if (config.namespace !== undefined) query['ns'] = config.namespace;
    if (config.partition !== undefined) query['partition'] = config.partition;
    this.query = query;
  }

  resolver(service: string): Resolver {
    let subscribed: ResolverListener | undefined;
    return {
      start: (listener) => {
        subscribed = listener;
        this.watch(service).subscribe(listener);
      },
      stop: () => {
        const watch = this.watches.get(service);
        if (subscribed === undefined || watch === undefined) return;
        if (watch.unsubscribe(subscribed)) {
          this.watches.delete(service);
          void watch.stop();
        }
      },
    };
  }

  register(local: LocalService, health: () => Promise<LocalHealth>): Registration | undefined {
    const options = this.config.registration;
    if (!options.enabled) return undefined;
    const registration = new SelfRegistration(
      this.link.calls,
      { ...local, address: options.address ?? registrableAddress(local.address) },
      {
        serviceId: options.service_id ?? `${local.name}-${local.port}`,
        tags: options.tags,
        meta: options.meta,
        ttlMs: options.ttl.ms,
        deregisterCriticalAfterMs: options.deregister_critical_service_after.ms,
      },
      health,
    );
    this.registrations.add(registration);
    registration.start();
    return registration;
  }

  async close(): Promise<void> {
    await Promise.all([...this.registrations].map((registration) => registration.deregister()));
    this.registrations.clear();
    await Promise.all([...this.watches.values()].map((watch) => watch.stop()));
    this.watches.clear();
    this.link.close();
  }

  private watch(service: string): ServiceWatch {
    let watch = this.watches.get(service);
    if (watch === undefined) {
      const { wait, rate_limit: rate } = this.config;
      watch = new ServiceWatch(service, this.link.reads, { waitMs: wait.ms, perSecond: rate.per_second, burst: rate.burst, query: this.query });
      this.watches.set(service, watch);
    }
    return watch;
  }
}

/** A wildcard bind address means "this host": leave the address out and Consul uses the node's. */
function registrableAddress(address: string | undefined): string | undefined {
  return address === undefined || address === '0.0.0.0' || address === '::' || address === '[::]' ? undefined : address;
}
