import type { DiscoveryProvider } from '../discovery/resolver.js';
import { AdminServer, type AdminSource } from './admin/adminServer.js';
import { sessionKey } from './affinity/sessionCookie.js';
import { compilePolicy } from './authz/policy.js';
import { Cluster } from './cluster/cluster.js';
import type { EjectionVerdict } from './cluster/outlierDetection.js';
import type { SharedEjections } from './cluster/sharedEjections.js';
import { LocalApp } from './cluster/localApp.js';
import type { LoadedConfig } from './config/load.js';
import { createDiscovery } from './configuredDiscovery.js';
import type { InboundConfig, OutboundConfig, TandemConfig } from './config/schema.js';
import { createLogger, setLogLevel } from './core/log.js';
import { drain, type DrainMode, type DrainReport } from './lifecycle/drain.js';
import { InFlight } from './lifecycle/inFlight.js';
import { registerLocalService, type LocalRegistration } from './lifecycle/registration.js';
import { explainDecision, requestShape, type DecidingLayers } from './observe/lbDecision.js';
import { createTracing, type Tracing } from './observe/tracing/tracing.js';
import { upstreamStatsView } from './observe/statsView.js';
import type { UpstreamStats } from './observe/upstreamStats.js';
import { limitsOf } from './listener/limits.js';
import { Listener } from './listener/listener.js';
import { newTicketSecret } from './listener/ticketKeys.js';
import type { ConnectionTimeouts } from './listener/servers.js';
import type { Service } from './http/message.js';
import { Metrics } from './observe/metrics.js';
import { inbound } from './stack/inbound.js';
import { outbound, upstreamStack, type UpstreamTarget } from './stack/outbound.js';
import { gatewayListeners } from './gateway/gatewayListeners.js';
import type { RouteServices } from './gateway/gatewayRouter.js';
import { AuthorityRoutes, authorityRouter, fixedRouter, type RouteTarget } from './stack/router.js';
import { serviceNaming, transparentProxyAcceptor } from './interception/transparentProxy.js';
import type { Acceptor } from './listener/acceptor.js';
import type { PortBinder } from './listener/ports.js';
import type { IdentitySource } from './identity/identitySource.js';
import { FileIdentity } from './identity/fileIdentity.js';
import { createIdentity, upstreamConnectors } from './identity/sidecarIdentity.js';
import { tlsAcceptor } from './listener/tlsAcceptor.js';
import { plaintextConnector, type Connector } from './upstream/connector.js';

const log = createLogger('sidecar');

export interface SidecarOptions {
  /** How every upstream's connections are made, overriding `upstreams[].tls` (tests). */
  readonly connector?: Connector;
  /** Bind the proxy listeners with SO_REUSEPORT, so a successor can bind them too (the CLI does on Linux). */
  readonly reusePort?: boolean;
  /** How the proxy listeners bind their ports: in this process unless given (a worker's come from its primary). */
  readonly bindPort?: PortBinder;
  /** Register the service with discovery (default true); a Tandem's workers leave it to their primary. */
  readonly register?: boolean;
  /** Where endpoints come from instead of the configured discovery (a worker's come from its primary). */
  readonly discovery?: DiscoveryProvider;
  /**
   * Bind nothing yet: a successor (`--replace`) binds its proxy listeners once it could serve
   * (`prerequisites()` empty), then the admin port once the instance it replaces has let go of it
   * (`bindListeners()`, `bindAdmin()`; see `lifecycle/takeover.ts`).
   */
  readonly deferBinding?: boolean;
  /**
   * What the session-ticket keys of the gateways and the inbound listener derive from; random unless
   * given. A Tandem's workers are given their primary's, so that a session one worker began resumes
   * on any of them.
   */
  readonly ticketSecret?: Buffer;
  /** Where outlier ejections are shared with other processes serving the same upstreams (a Tandem's workers). */
  readonly ejections?: SharedEjections;
}

/**
 * A running Tandem: discovery, one cluster per upstream, the local app, the listeners that feed them
 * and the admin server. `start()` binds everything or nothing.
 */
export class Sidecar implements AdminSource {
  private readonly admin: AdminServer;
  private registered: LocalRegistration | undefined;
  private draining: Promise<DrainReport> | undefined;
  private drainMode: DrainMode | undefined;
  private readonly drained = Promise.withResolvers<DrainReport>();
  /** Whether this sidecar registers its service with discovery (`SidecarOptions.register`). */
  private registers = true;

  private constructor(
    private readonly loaded: LoadedConfig,
    private readonly discovery: DiscoveryProvider | undefined,
    private readonly upstreamList: ReadonlyArray<{ readonly cluster: Cluster; readonly deciding: DecidingLayers }>,
    private readonly localApp: LocalApp | undefined,
    private readonly listenerList: readonly Listener[],
    private readonly metricsRegistry: Metrics,
    private readonly identitySource: IdentitySource | undefined,
    private readonly work: { readonly inbound: InFlight; readonly outbound: InFlight },
    private readonly tracing: Tracing | undefined,
  ) {
    this.admin = new AdminServer(this, loaded.config.admin.address, loaded.config.admin.port);
  }

  static async start(loaded: LoadedConfig, options: SidecarOptions = {}): Promise<Sidecar> {
    const { config } = loaded;
    setLogLevel(config.log.level);
    const identity = await createIdentity(config, loaded.baseDir);
    // Files are there or not: a bad set fails the start. The CA may be down for a while: the sidecar
    // starts, is not ready, and keeps asking.
    if (identity instanceof FileIdentity) await identity.start();
    else void identity?.start();
    const discovery = options.discovery ?? createDiscovery(loaded);
    const metrics = new Metrics();
    const connectorFor = upstreamConnectors(config, identity, loaded.baseDir, metrics.upstreamTlsRefusals());
    if (identity !== undefined) metrics.watchIdentity(() => identity.current?.notAfter);
    const upstreams: Array<{ cluster: Cluster; deciding: DecidingLayers }> = [];
    const targets: UpstreamTarget[] = [];
    for (const upstream of config.upstreams) {
      // Validation guarantees discovery is configured whenever upstreams are.
      const resolver = (discovery as DiscoveryProvider).resolver(upstream.service);
      const upstreamMetrics = metrics.forUpstream(upstream.name);
      const { ejections } = options;
      const cluster = new Cluster(upstream, {
        resolver,
        connector: options.connector ?? connectorFor(upstream),
        metrics: upstreamMetrics,
        ...(ejections === undefined ? {} : { ejectionDecided: (verdict: EjectionVerdict) => ejections.publish(upstream.name, verdict) }),
      });
      const session = upstream.stateful_session;
      const key = session === undefined ? undefined : sessionKey(session, loaded.baseDir);
      const target = upstreamStack(cluster, { metrics: upstreamMetrics, ...(key === undefined ? {} : { sessionKey: key }) });
      targets.push(target);
      upstreams.push({ cluster, deciding: target.deciding });
    }
    options.ejections?.subscribe((name, verdict) => upstreams.find(({ cluster }) => cluster.name === name)?.cluster.adoptEjection(verdict));
    const work = { inbound: new InFlight(), outbound: new InFlight() };
    const reusePort = options.reusePort === true;
    const { bindPort } = options;
    const tracing = await createTracing(config.tracing, config.service === undefined ? 'tandem' : `tandem-${config.service.name}`);
    const listeners = outboundListeners(config, targets, metrics, { work: work.outbound, reusePort, bindPort, tracing });
    const ticketSecret = options.ticketSecret ?? newTicketSecret();
    const byName = new Map(targets.map((target) => [target.upstream.toLowerCase(), target]));
    const routeServices: RouteServices = (upstream, overrides) => {
      const target = byName.get(upstream.toLowerCase()) as UpstreamTarget; // validation guarantees it
      // A gateway route that overrides nothing gets the upstream's own stack, its routes included.
      return Object.values(overrides).every((value) => value === undefined) ? target.service : target.withRoute(overrides);
    };
    // Gateway requests count with the inbound side's: callers from outside, whom a drain waits for.
    listeners.push(...gatewayListeners(config.gateways, routeServices, { metrics, work: work.inbound, reusePort, bindPort, tracing, baseDir: loaded.baseDir, ticketSecret }));
    let localApp: LocalApp | undefined;
    if (config.inbound !== undefined && config.service !== undefined) {
      const settings = config.inbound;
      localApp = new LocalApp(config.service, plaintextConnector);
      const rules = config.authorization;
      const authorization = rules === undefined ? undefined : { policy: compilePolicy(rules), denied: metrics.authorizationDenials() };
      const service = inbound(metrics.forListener('inbound', 'inbound'), localApp, { streamIdleTimeoutMs: settings.stream_idle_timeout.ms, authorization, work: work.inbound, tracing });
      const timeouts = timeoutsOf(settings);
      const mode = settings.tls.mode ?? (identity === undefined ? 'disabled' : 'strict');
      const acceptor =
        mode === 'disabled' || identity === undefined
          ? undefined
          : tlsAcceptor({ identity, mode, handshakeTimeoutMs: timeouts.requestHeadersTimeoutMs, refused: metrics.tlsRefusals('inbound'), ticketSecret });
      listeners.push(new Listener({ name: 'inbound', address: settings.address, port: settings.port, service, timeouts, limits: limitsOf(settings), guarded: metrics.listenerGuards('inbound'), connectionOpened: metrics.listenerConnectionsOpen('inbound'), reusePort, ...(bindPort === undefined ? {} : { bindPort }), ...(acceptor === undefined ? {} : { acceptor }) }));
    }
    const sidecar = new Sidecar(loaded, discovery, upstreams, localApp, listeners, metrics, identity, work, tracing);
    sidecar.registers = options.register !== false;
    void sidecar.drained.promise.catch(() => undefined); // a failed drain is reported to whoever waits for it
    for (const { cluster } of upstreams) cluster.start();
    if (options.deferBinding === true) return sidecar;
    try {
      // The admin port first: it is never shared, so a second Tandem started by mistake with this
      // configuration stops here, before its proxy listeners (which may be) take any traffic.
      await sidecar.bindAdmin();
      await sidecar.bindListeners();
    } catch (error) {
      await sidecar.stop();
      throw error;
    }
    return sidecar;
  }

  /** Binds the proxy listeners and registers with discovery (done by `start()` unless `deferBinding`). */
  async bindListeners(): Promise<void> {
    for (const listener of this.listenerList) await bind(listener.listen(), listener.name, listener.address);
    this.register();
    log.info('sidecar started', { upstreams: this.loaded.config.upstreams.length, listeners: this.listenerList.length });
  }

  /** Binds the admin listener (done by `start()` unless `deferBinding`). */
  async bindAdmin(): Promise<void> {
    await bind(this.admin.listen(), 'admin', this.loaded.config.admin.address);
  }

  /** Registers the local service with discovery (Consul), reachable at the inbound listener. */
  private register(): void {
    if (!this.registers || this.loaded.config.inbound === undefined) return;
    this.registered = registerLocalService(this.discovery, this.loaded.config, this.port('inbound'), () => this.readiness());
  }

  /** Why `/ready` is 503: draining, a listener not bound, or a prerequisite missing. */
  readiness(): readonly string[] {
    const reasons: string[] = [];
    if (this.drainMode !== undefined) reasons.push(`draining (${this.drainMode})`);
    for (const listener of this.listenerList) if (listener.port === 0) reasons.push(`listener ${listener.name}: not bound`);
    reasons.push(...this.prerequisites());
    return reasons;
  }

  /** What this sidecar needs before it can serve: discovery answered for every upstream, a certificate. */
  prerequisites(): readonly string[] {
    const reasons: string[] = [];
    for (const { cluster } of this.upstreamList) {
      if (cluster.synced) continue;
      const error = cluster.discoveryError;
      reasons.push(`upstream ${cluster.name}: discovery has not answered yet${error === undefined ? '' : ` (last error: ${error.message})`}`);
    }
    const identity = this.identitySource;
    if (identity !== undefined && identity.current === undefined) {
      const last = identity.renewals.last;
      reasons.push(`identity: no certificate yet${last === undefined ? '' : ` (last attempt: ${last.outcome})`}`);
    }
    return reasons;
  }

  identity(): unknown {
    const source = this.identitySource;
    const material = source?.current;
    if (source === undefined) return null;
    const record = (r: { at: Date; outcome: string } | undefined): unknown => (r === undefined ? null : { at: r.at.toISOString(), outcome: r.outcome });
    return {
      spiffe_id: material?.id.uri ?? null,
      serial: material?.serial ?? null,
      not_before: material?.notBefore.toISOString() ?? null,
      not_after: material?.notAfter.toISOString() ?? null,
      trust_bundle_sha256: material?.bundleFingerprints ?? [],
      last_renewal: record(source.renewals.last),
      last_successful_renewal: record(source.renewals.lastSuccess),
    };
  }

  clusters(): unknown {
    const clusters: object[] = this.upstreamList.map(({ cluster }) => cluster.toJSON());
    if (this.localApp !== undefined) clusters.push(this.localApp.toJSON());
    return clusters;
  }

  listeners(): unknown {
    return [
      ...this.listenerList.map((listener) => ({ name: listener.name, address: listener.address, port: listener.port })),
      { name: 'admin', address: this.loaded.config.admin.address, port: this.admin.boundPort },
    ];
  }

  stats(windowS: number, withEndpoints: boolean): unknown {
    return {
      upstreams: this.upstreamList.map(({ cluster }) => {
        const stats = this.metricsRegistry.stats.get(cluster.name) as UpstreamStats;
        return upstreamStatsView(cluster.name, stats, cluster.endpointStates(), windowS, withEndpoints);
      }),
    };
  }

  explainLb(query: URLSearchParams): { readonly status: number; readonly body: unknown } {
    const name = query.get('upstream');
    const known = this.upstreamList.map(({ cluster }) => cluster.name);
    if (name === null) return { status: 400, body: { error: `upstream: required; one of ${known.join(', ') || 'none'}` } };
    const upstream = this.upstreamList.find(({ cluster }) => cluster.name === name);
    if (upstream === undefined) return { status: 404, body: { error: `no upstream "${name.slice(0, 80)}"; known: ${known.join(', ') || 'none'}` } };
    const request = requestShape(query, upstream.cluster.config.service);
    if (typeof request === 'string') return { status: 400, body: { error: request } };
    return { status: 200, body: explainDecision(upstream.cluster, upstream.deciding, request) };
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

  /** Whether a drain has begun. */
  get isDraining(): boolean {
    return this.drainMode !== undefined;
  }

  /**
   * Drains (see `lifecycle/drain.ts`) and then stops; the same promise for every caller. Readiness
   * fails at once. A handover first closes the admin port, for the successor to bind.
   */
  drain(mode: DrainMode = 'shutdown'): Promise<DrainReport> {
    this.draining ??= (async () => {
      this.drainMode = mode;
      if (mode === 'handover') await this.admin.close();
      // Only what was bound has anything to drain (a successor stopped mid-takeover has bound nothing).
      const bound = this.listenerList.filter((listener) => listener.port !== 0);
      // Inbound and the gateways: what callers from elsewhere reach, drained first.
      const inbound = bound.filter((listener) => listener.name === 'inbound' || listener.name.startsWith('gateway.'));
      const report = await drain(
        {
          inbound,
          outbound: bound.filter((listener) => !inbound.includes(listener)),
          inboundWork: this.work.inbound,
          outboundWork: this.work.outbound,
          leaveDiscovery: async (how) => {
            if (how === 'handover') await this.registered?.registration.release();
            else await this.registered?.registration.deregister();
          },
        },
        this.loaded.config.drain,
        mode,
      );
      await this.stop();
      return report;
    })();
    this.draining.then(this.drained.resolve, this.drained.reject);
    return this.draining;
  }

  /** Resolves once a drain, whoever began it (a signal, `POST /drain`), has finished and everything stopped. */
  whenDrained(): Promise<DrainReport> {
    return this.drained.promise;
  }

  /**
   * Stops at once: deregisters from discovery, closes listeners (connections get `graceMs` to
   * finish), pools, discovery and admin. `drain()` is the graceful way.
   */
  async stop(graceMs = 0): Promise<void> {
    this.registered?.stopWatching();
    await this.registered?.registration.deregister();
    await Promise.all(this.listenerList.map((listener) => listener.close(graceMs)));
    for (const { cluster } of this.upstreamList) cluster.close();
    this.localApp?.close();
    await this.discovery?.close();
    this.identitySource?.close();
    await this.admin.close();
    await this.tracing?.shutdown(); // last: the spans of everything above are exported
  }
}


/** A listener per upstream `local_port`, and the HTTP proxy port routing by authority to them all (and passing through what iptables redirected and is not theirs). */
function outboundListeners(
  config: TandemConfig,
  targets: readonly RouteTarget[],
  metrics: Metrics,
  shared: { readonly work: InFlight; readonly reusePort: boolean; readonly bindPort: PortBinder | undefined; readonly tracing: Tracing | undefined },
): Listener[] {
  const { work, reusePort, bindPort, tracing } = shared;
  const settings = config.outbound;
  const timeouts = timeoutsOf(settings);
  const listeners: Listener[] = [];
  const listen = (name: string, port: number, router: Service, acceptor?: Acceptor): void => {
    const service = outbound(metrics.forListener('outbound', name), router, work, tracing === undefined ? undefined : { tracing, listener: name });
    const accepting = acceptor === undefined ? {} : { acceptor };
    listeners.push(new Listener({ name, address: settings.address, port, service, timeouts, ...accepting, limits: limitsOf(settings), guarded: metrics.listenerGuards(name), connectionOpened: metrics.listenerConnectionsOpen(name), reusePort, ...(bindPort === undefined ? {} : { bindPort }) }));
  };
  config.upstreams.forEach((upstream, index) => {
    if (upstream.local_port !== undefined) listen(`outbound.${upstream.name}`, upstream.local_port, fixedRouter(targets[index] as RouteTarget));
  });
  if (settings.http_proxy_port !== undefined) {
    const routes = new AuthorityRoutes(targets, serviceNaming(config));
    listen('outbound.http_proxy', settings.http_proxy_port, authorityRouter(routes), transparentProxyAcceptor(config, routes, metrics, 'outbound.http_proxy'));
  }
  return listeners;
}

function timeoutsOf(settings: InboundConfig | OutboundConfig): ConnectionTimeouts {
  return { requestHeadersTimeoutMs: settings.request_headers_timeout.ms, idleTimeoutMs: settings.idle_timeout.ms };
}

async function bind<T>(listening: Promise<T>, name: string, address: string): Promise<T> {
  try {
    return await listening;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`cannot bind listener ${name} on ${address}: ${code ?? (error as Error).message}`, { cause: error });
  }
}
