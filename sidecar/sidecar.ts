import { fixedResolver } from '../discovery/fixedResolver.js';
import { discoveryKind } from '../discovery/registry.js';
import type { DiscoveryProvider, LocalHealth, Registration } from '../discovery/resolver.js';
import { AdminServer, type AdminSource } from './admin/adminServer.js';
import { Cluster } from './cluster/cluster.js';
import type { LoadedConfig } from './config/load.js';
import { UpstreamSchema, type TandemConfig, type UpstreamConfig } from './config/schema.js';
import { createLogger, setLogLevel } from './core/log.js';
import type { Service } from './http/message.js';
import { Listener } from './listener/listener.js';
import { Metrics } from './observe/metrics.js';
import { sessionKey } from './affinity/sessionCookie.js';
import { authorityRoute, fixedRoute } from './stack/routes.js';
import { upstreamStack } from './stack/upstreamStack.js';
import { healthCheckKind, type HealthChecker } from './health/index.js';
import { plaintextConnector, type Connector } from './upstream/connector.js';

const log = createLogger('sidecar');

/** The cluster behind the inbound listener (Envoy and Consul call it `local_app` too). */
export const LOCAL_APP = 'local_app';

export interface SidecarOptions {
  /** How upstream connections are made; plaintext TCP unless given (the seam mTLS plugs into). */
  readonly connector?: Connector;
}

/**
 * A running Tandem: discovery, one cluster per upstream (plus the local app), the listeners that feed
 * them and the admin server. `start()` binds everything or nothing.
 */
export class Sidecar implements AdminSource {
  private readonly admin: AdminServer;
  private registration: Registration | undefined;

  private constructor(
    private readonly loaded: LoadedConfig,
    private readonly discovery: DiscoveryProvider | undefined,
    private readonly clusterList: readonly Cluster[],
    private readonly listenerList: readonly Listener[],
    private readonly metricsRegistry: Metrics,
  ) {
    this.admin = new AdminServer(this, loaded.config.admin.address, loaded.config.admin.port);
  }

  static async start(loaded: LoadedConfig, options: SidecarOptions = {}): Promise<Sidecar> {
    const { config } = loaded;
    setLogLevel(config.log.level);
    const connector = options.connector ?? plaintextConnector;
    const discovery = createDiscovery(loaded);
    const metrics = new Metrics();
    const clusters: Cluster[] = [];
    const services = new Map<string, Service>();
    for (const upstream of config.upstreams) {
      // Validation guarantees discovery is configured whenever upstreams are.
      const resolver = (discovery as DiscoveryProvider).resolver(upstream.service);
      const upstreamMetrics = metrics.forUpstream(upstream.name);
      const cluster = new Cluster(upstream, { resolver, connector, metrics: upstreamMetrics });
      clusters.push(cluster);
      const session = upstream.stateful_session;
      const key = session === undefined ? undefined : sessionKey(session, loaded.baseDir);
      services.set(upstream.name.toLowerCase(), upstreamStack(cluster, { metrics: upstreamMetrics, ...(key === undefined ? {} : { sessionKey: key }) }));
    }
    const listeners = outboundListeners(config, services);
    if (config.inbound !== undefined && config.service !== undefined) {
      const app = config.service;
      const localMetrics = metrics.forUpstream(LOCAL_APP);
      const cluster = new Cluster(localAppUpstream(app), {
        resolver: fixedResolver([{ address: app.address, port: app.port, weight: 1, health: 'healthy', metadata: {} }]),
        connector: plaintextConnector,
        metrics: localMetrics,
      });
      clusters.push(cluster);
      listeners.push(
        new Listener({ name: 'inbound', address: config.inbound.address, port: config.inbound.port, route: fixedRoute(upstreamStack(cluster, { metrics: localMetrics })) }),
      );
    }
    const sidecar = new Sidecar(loaded, discovery, clusters, listeners, metrics);
    for (const cluster of clusters) cluster.start();
    try {
      for (const listener of listeners) await bind(listener.listen(), listener.name, listener.address);
      await bind(sidecar.admin.listen(), 'admin', config.admin.address);
    } catch (error) {
      await sidecar.stop();
      throw error;
    }
    sidecar.register();
    log.info('sidecar started', { upstreams: config.upstreams.length, listeners: listeners.length });
    return sidecar;
  }

  /** Registers the local service with discovery (Consul), reachable at the inbound listener. */
  private register(): void {
    const { service, inbound } = this.loaded.config;
    if (service === undefined || inbound === undefined || this.discovery?.register === undefined) return;
    const check = service.health_check;
    const checker = (healthCheckKind(check.kind) as NonNullable<ReturnType<typeof healthCheckKind>>).create(check.config);
    this.registration = this.discovery.register(
      { name: service.name, address: inbound.address, port: this.port('inbound'), protocol: service.protocol },
      () => this.localHealth(checker, check.timeout.ms),
    );
  }

  /** Passing while this sidecar is ready and the local app passes its health check; critical otherwise. */
  private async localHealth(checker: HealthChecker, timeoutMs: number): Promise<LocalHealth> {
    const reasons = this.readiness();
    if (reasons.length > 0) return { status: 'critical', output: `Tandem not ready: ${reasons.join('; ')}` };
    const app = this.loaded.config.service as NonNullable<TandemConfig['service']>;
    const verdict = await checker.check({ address: app.address, port: app.port }, timeoutMs);
    return verdict.healthy ? { status: 'passing', output: `local app healthy (${verdict.detail})` } : { status: 'critical', output: `local app unhealthy: ${verdict.detail}` };
  }

  readiness(): readonly string[] {
    const reasons: string[] = [];
    for (const cluster of this.clusterList) {
      if (cluster.synced) continue;
      const error = cluster.discoveryError;
      reasons.push(`upstream ${cluster.name}: discovery has not answered yet${error === undefined ? '' : ` (last error: ${error.message})`}`);
    }
    for (const listener of this.listenerList) if (listener.port === 0) reasons.push(`listener ${listener.name}: not bound`);
    return reasons;
  }

  clusters(): unknown {
    return this.clusterList.map((cluster) => cluster.toJSON());
  }

  listeners(): unknown {
    return [
      ...this.listenerList.map((listener) => ({ name: listener.name, address: listener.address, port: listener.port })),
      { name: 'admin', address: this.loaded.config.admin.address, port: this.admin.boundPort },
    ];
  }

  configDump(): unknown {
    return this.loaded.config;
  }

  metrics(): Metrics {
    return this.metricsRegistry;
  }

  /** Bound port of a listener by name (`inbound`, `outbound.<upstream>`, `outbound.http_proxy`, `admin`). */
  port(name: string): number {
    if (name === 'admin') return this.admin.boundPort;
    const listener = this.listenerList.find((l) => l.name === name);
    if (listener === undefined) throw new Error(`no listener named ${name}`);
    return listener.port;
  }

  cluster(name: string): Cluster | undefined {
    return this.clusterList.find((cluster) => cluster.name === name);
  }

  /**
   * Deregisters from discovery first, so peers stop choosing this instance while the listeners still
   * accept; then closes listeners (connections get `graceMs` to finish), pools, discovery and admin.
   */
  async stop(graceMs = 0): Promise<void> {
    await this.registration?.deregister();
    await Promise.all(this.listenerList.map((listener) => listener.close(graceMs)));
    for (const cluster of this.clusterList) cluster.close();
    await this.discovery?.close();
    await this.admin.close();
  }
}

/**
 * The local app as an upstream of the inbound listener. The calling sidecar owns the request's policy
 * (its route timeout, retries and budget), so the inbound hop adds none of its own: no route timeout,
 * no policy retries (transparent resends of unprocessed requests stay), no outlier detection for the
 * one endpoint there is, and limits high enough never to shed what the app could take.
 */
function localAppUpstream(app: NonNullable<TandemConfig['service']>): UpstreamConfig {
  const unlimited = 2 ** 31 - 1;
  return UpstreamSchema.parse({
    name: LOCAL_APP,
    service: app.name,
    protocol: app.protocol,
    connect_timeout: '1s',
    timeout: '0s',
    retry: { num_retries: 0 },
    outlier_detection: { enabled: false },
    circuit_breaker: { max_connections: unlimited, max_pending_requests: unlimited, max_requests: unlimited, max_retries: unlimited },
  });
}

function createDiscovery(loaded: LoadedConfig): DiscoveryProvider | undefined {
  const discovery = loaded.config.discovery;
  if (discovery === undefined) return undefined;
  const kind = discoveryKind(discovery.kind);
  if (kind === undefined) throw new Error(`unknown discovery kind ${discovery.kind}`); // config validation prevents this
  return kind.create(discovery.config, { baseDir: loaded.baseDir });
}

function outboundListeners(config: TandemConfig, services: ReadonlyMap<string, Service>): Listener[] {
  const listeners: Listener[] = [];
  const { address } = config.outbound;
  for (const upstream of config.upstreams) {
    if (upstream.local_port === undefined) continue;
    const service = services.get(upstream.name.toLowerCase()) as Service;
    listeners.push(new Listener({ name: `outbound.${upstream.name}`, address, port: upstream.local_port, route: fixedRoute(service) }));
  }
  if (config.outbound.http_proxy_port !== undefined) {
    listeners.push(new Listener({ name: 'outbound.http_proxy', address, port: config.outbound.http_proxy_port, route: authorityRoute(services) }));
  }
  return listeners;
}

async function bind<T>(listening: Promise<T>, name: string, address: string): Promise<T> {
  try {
    return await listening;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`cannot bind listener ${name} on ${address}: ${code ?? (error as Error).message}`, { cause: error });
  }
}
