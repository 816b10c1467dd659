import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DEFAULT_DISCOVERY_KIND } from '../../discovery/kinds.js';
import { discoveryKind, registeredDiscoveryKinds } from '../../discovery/registry.js';
import { DEFAULT_POLICY } from '../balancer/policies.js';
import { HashPolicyList } from '../affinity/hashKeySources.js';
import { StatefulSessionSchema } from '../affinity/sessionCookie.js';
import { balancerFactory, registeredBalancers } from '../balancer/registry.js';
import { ActiveHealthCheckConfig, HealthCheckConfig } from '../health/healthCheckConfig.js';
import { OutlierDetectionSchema } from '../cluster/outlierDetectionConfig.js';
import { CircuitBreakerSchema } from '../limits/circuitBreakerConfig.js';
import { mergeRetry, retryConfigIssues, RetrySchema } from '../retry/retryConfig.js';
import { AuthorizationSchema } from '../authz/authorizationConfig.js';
import { IdentitySchema, InboundTlsSchema, UpstreamTlsSchema } from '../identity/identityConfig.js';
import { DrainSchema } from '../lifecycle/drainConfig.js';
import { TracingSchema } from '../observe/tracing/tracingConfig.js';
import { GatewaySchema } from '../gateway/gatewayConfig.js';
import { STREAM_WINDOW_BYTES } from '../http/http2Settings.js';
import { limitFields, SIDECAR_LIMIT_DEFAULTS } from '../listener/limits.js';
import { TransparentSchema } from '../interception/transparentConfig.js';
import { RouteSchema } from './routeConfig.js';
import { formatFieldPath } from './issues.js';
import { LoadBalancing } from './loadBalancing.js';
import { Address, DurationField, pluginChoice, Port, Protocol, ServiceName } from './fields.js';

/**
 * The configuration file's schema. Snake_case keys and Envoy/Consul vocabulary; unknown keys are
 * errors everywhere; every default is visible here and in `/config_dump`.
 */

const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);

/** `discovery: { <kind>: {...} }` with exactly one registered kind. */
const Discovery = pluginChoice((value) => {
  const keys = Object.keys(value);
  const kinds = registeredDiscoveryKinds().map((k) => k.kind).join(', ');
  if (keys.length !== 1) return { error: `expected exactly one discovery kind (${kinds}), got ${keys.length}`, path: [] };
  const name = keys[0] as string;
  const kind = discoveryKind(name);
  if (kind === undefined) return { error: `unknown discovery kind; expected one of: ${kinds}`, path: [name] };
  return {
    schema: kind.configSchema.transform((config) => ({ kind: name, config })),
    input: value[name],
    path: [name],
  };
});

const Pool = z.strictObject({
  /** Connections per endpoint: HTTP/1.1 sockets, or HTTP/2 sessions. Requests beyond queue. */
  max_connections_per_endpoint: z.number().int().min(1).default(256),
  /** Streams Tandem opens on one HTTP/2 connection at most; the peer's SETTINGS may lower it. */
  max_concurrent_streams: z.number().int().min(1).max(2 ** 31 - 1).default(1024),
  /** An unused connection is closed after this long. */
  idle_timeout: DurationField.prefault('30s'),
  /**
   * HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE Tandem announces to the upstream, in bytes: how much of a
   * response the upstream may send on a stream before Tandem has passed it on — so also the most
   * Tandem holds for a stream whose client does not read (Envoy's `initial_stream_window_size`,
   * 256 MiB by default, 64 KiB in its edge practice).
   */
  initial_stream_window_size: z.number().int().min(65_535).max(2 ** 31 - 1).default(STREAM_WINDOW_BYTES),
});

export const UpstreamSchema = z
  .strictObject({
    /** How the app addresses this upstream: the Host/:authority on the proxy port, and the stats name. */
    name: ServiceName,
    /** The service to look up in discovery; defaults to `name`. */
    service: ServiceName.optional(),
    /** A port on the outbound address that sends everything to this upstream. */
    local_port: Port.optional(),
    protocol: Protocol.default('http1'),
    lb: LoadBalancing.prefault({ policy: DEFAULT_POLICY }),
    /** Where the hashing policies (ring_hash, maglev) take each request's key from; see docs. */
    hash_policy: HashPolicyList.default([]),
    /** Signed cookies pinning a client to the endpoint that served it, honoured by every Tandem with the key. */
    stateful_session: StatefulSessionSchema.optional(),
    connect_timeout: DurationField.prefault('5s'),
    pool: Pool.prefault({}),
    /**
     * The route timeout: from the end of the request to the response head, all attempts included
     * (Envoy's 15 s). It never cuts a response that has started, so streams are not bounded by it.
     */
    timeout: DurationField.prefault('15s'),
    /** Nothing sent either way for this long ends the exchange (Envoy's 5 min); 0s turns it off. */
    stream_idle_timeout: DurationField.prefault('5m'),
    retry: RetrySchema.prefault({}),
    circuit_breaker: CircuitBreakerSchema.prefault({}),
    outlier_detection: OutlierDetectionSchema.prefault({}),
    /** Active health checking of each endpoint; off unless given. */
    health_check: ActiveHealthCheckConfig.optional(),
    /** Per-path overrides of timeout, stream_idle_timeout and retry; first match wins. */
    routes: z.array(RouteSchema).default([]),
    /** How connections to the endpoints are secured; mutual TLS by default once `identity` is configured. */
    tls: UpstreamTlsSchema.prefault({}),
  })
  .superRefine((upstream, ctx) => {
    upstream.routes.forEach((route, index) => {
      for (const issue of retryConfigIssues(mergeRetry(upstream.retry, route.retry))) {
        ctx.addIssue({ code: 'custom', path: ['routes', index, 'retry', ...issue.path], message: `${issue.message} (after merging the upstream's retry policy)` });
      }
    });
    if (upstream.hash_policy.length > 0 && balancerFactory(upstream.lb.policy)?.usesHashKey !== true) {
      const hashing = registeredBalancers().filter((factory) => factory.usesHashKey).map((factory) => factory.name);
      ctx.addIssue({
        code: 'custom',
        path: ['hash_policy'],
        message: `only used by ${hashing.join(', ') || 'hashing policies'}, but lb.policy is ${upstream.lb.policy}`,
      });
    }
  })
  .transform(({ service, ...upstream }) => ({ ...upstream, service: service ?? upstream.name }));

/**
 * Per-connection limits every listener kind takes (Envoy's HTTP connection manager names). Envoy leaves
 * `request_headers_timeout` off by default; Tandem does not, since a proxy that waits forever for a
 * head is open to slow-loris clients.
 */
const connectionTimeouts = {
  /** Time a client has to send a whole request head from its first byte; also how long a new connection may stay silent. */
  request_headers_timeout: DurationField.prefault('10s'),
  /** A connection with no request in flight for this long is closed (Envoy's `idle_timeout`, 1 h). */
  idle_timeout: DurationField.prefault('1h'),
};

const WORKERS_EXPECTED = 'expected a whole number of processes from 1 to 64, or "auto" (one per core)';

export const ConfigSchema = z
  .strictObject({
    /** The local application this sidecar fronts; the inbound listener forwards to it. */
    service: z
      .strictObject({
        name: ServiceName,
        address: Address.default('127.0.0.1'),
        port: Port.min(1),
        protocol: Protocol.default('http1'),
        /** How Tandem judges the app healthy (reported to Consul when it registers the service). */
        health_check: HealthCheckConfig.prefault({ tcp: {} }),
      })
      .optional(),
    admin: z.strictObject({ address: Address.default('127.0.0.1'), port: Port.default(9901) }).prefault({}),
    /**
     * Where peers reach the local service: mutual TLS once `identity` is configured (then it may bind
     * a pod or host address); plaintext otherwise, so it binds loopback unless told.
     */
    inbound: z
      .strictObject({
        address: Address.default('127.0.0.1'),
        port: Port,
        tls: InboundTlsSchema.prefault({}),
        ...connectionTimeouts,
        ...limitFields(SIDECAR_LIMIT_DEFAULTS),
        /** Nothing sent either way on a stream for this long ends it (as an upstream's default, Envoy's 5 min). */
        stream_idle_timeout: DurationField.prefault('5m'),
      })
      .optional(),
    outbound: z
      .strictObject({
        address: Address.default('127.0.0.1'),
        /** One port for every upstream, routed by Host/:authority (also the transparent-proxy target). */
        http_proxy_port: Port.optional(),
        /** Connections iptables redirected to the HTTP proxy port: routed by Kubernetes names too, the rest passed through. */
        transparent: TransparentSchema.optional(),
        ...connectionTimeouts,
        ...limitFields(SIDECAR_LIMIT_DEFAULTS),
      })
      .prefault({}),
    /** Who may call the local app through the inbound listener, by the caller's SPIFFE ID; everyone when absent. */
    authorization: AuthorizationSchema.optional(),
    /** Who this sidecar is in the mesh: its certificates, from Tandem's CA or from files. */
    identity: IdentitySchema.optional(),
    discovery: Discovery.optional(),
    upstreams: z.array(UpstreamSchema).default([]),
    /** Stand-alone L7 load balancer listeners (TLS by SNI, host/path routes, weighted splits) over the upstreams. */
    gateways: z.array(GatewaySchema).default([]),
    /** OpenTelemetry traces over OTLP/HTTP; off (and the SDK not loaded) when absent. */
    tracing: TracingSchema.optional(),
    /** How a stopping Tandem lets work finish (SIGTERM, SIGINT, `POST /drain`). */
    drain: DrainSchema.prefault({}),
    log: z.strictObject({ level: LogLevel.default('info') }).prefault({}),
    /**
     * Processes serving the listeners: 1 (the default) serves in this one; N > 1 forks N workers, this
     * process accepting every connection and handing it to the worker with the fewest open
     * (docs/workers.md); `auto`, one per core.
     */
    workers: z
      .union([z.int().min(1).max(64), z.string().refine((text) => text === 'auto', WORKERS_EXPECTED)], { error: WORKERS_EXPECTED })
      .default(1)
      .transform((n): number => (typeof n === 'number' ? n : Math.min(64, availableParallelism()))),
  })
  .superRefine((config, ctx) => {
    if (config.inbound !== undefined && config.service === undefined) {
      ctx.addIssue({ code: 'custom', path: ['service'], message: 'required when inbound is configured (the app to forward to)' });
    }
    if (config.outbound.transparent !== undefined && config.outbound.http_proxy_port === undefined) {
      ctx.addIssue({ code: 'custom', path: ['outbound', 'http_proxy_port'], message: 'required when outbound.transparent is set (the port iptables redirects to)' });
    }
    if (config.upstreams.length > 0 && config.discovery === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['discovery'],
        message: `required when upstreams are declared (e.g. { ${DEFAULT_DISCOVERY_KIND}: { file: ./endpoints.yaml } })`,
      });
    }
    if (config.identity !== undefined && config.identity.service === undefined && config.service === undefined) {
      ctx.addIssue({ code: 'custom', path: ['identity', 'service'], message: 'required when there is no service block (the service this sidecar\'s identity names)' });
    }
    if (config.identity === undefined) {
      const mode = config.inbound?.tls.mode;
      if (mode === 'strict' || mode === 'permissive') ctx.addIssue({ code: 'custom', path: ['inbound', 'tls', 'mode'], message: `${mode} needs an identity block (this sidecar's certificate)` });
      config.upstreams.forEach((upstream, index) => {
        if (upstream.tls.mode === 'mtls') ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'tls', 'mode'], message: 'mtls needs an identity block (this sidecar\'s certificate)' });
      });
    }
    config.upstreams.forEach((upstream, index) => {
      if (upstream.tls.mode === 'tls' && upstream.tls.ca_file === undefined) ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'tls', 'ca_file'], message: 'required for mode: tls' });
    });
    const names = new Map<string, number>();
    config.upstreams.forEach((upstream, index) => {
      const key = upstream.name.toLowerCase();
      const first = names.get(key);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'name'], message: `"${upstream.name}" is already the name of upstreams[${first}]` });
      } else names.set(key, index);
    });
    const ports = new Map<number, string>();
    const claim = (port: number | undefined, path: PropertyKey[]): void => {
      if (port === undefined || port === 0) return;
      const owner = ports.get(port);
      if (owner !== undefined) ctx.addIssue({ code: 'custom', path, message: `port ${port} is already used by ${owner}` });
      else ports.set(port, formatFieldPath(path));
    };
    claim(config.admin.port, ['admin', 'port']);
    claim(config.inbound?.port, ['inbound', 'port']);
    claim(config.outbound.http_proxy_port, ['outbound', 'http_proxy_port']);
    config.upstreams.forEach((upstream, index) => claim(upstream.local_port, ['upstreams', index, 'local_port']));
    const gatewayNames = new Map<string, number>();
    config.gateways.forEach((gateway, index) => {
      const first = gatewayNames.get(gateway.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['gateways', index, 'name'], message: `"${gateway.name}" is already the name of gateways[${first}]` });
      else gatewayNames.set(gateway.name, index);
      claim(gateway.port, ['gateways', index, 'port']);
      claim(gateway.redirect_http?.port, ['gateways', index, 'redirect_http', 'port']);
      gateway.routes.forEach((route, routeIndex) => {
        const targets = route.upstream !== undefined ? [{ name: route.upstream, path: ['upstream'] }] : (route.weighted ?? []).map((target, i) => ({ name: target.upstream, path: ['weighted', i, 'upstream'] }));
        for (const target of targets) {
          if (names.has(target.name.toLowerCase())) continue;
          const known = config.upstreams.map((upstream) => upstream.name).join(', ') || 'none';
          ctx.addIssue({ code: 'custom', path: ['gateways', index, 'routes', routeIndex, ...target.path], message: `no upstream "${target.name}"; declared: ${known}` });
        }
      });
    });
  });

export type TandemConfig = z.output<typeof ConfigSchema>;
export type UpstreamConfig = TandemConfig['upstreams'][number];
export type ServiceConfig = NonNullable<TandemConfig['service']>;
export type PoolConfig = UpstreamConfig['pool'];
export type InboundConfig = NonNullable<TandemConfig['inbound']>;
export type OutboundConfig = TandemConfig['outbound'];
export type { GatewayConfig } from '../gateway/gatewayConfig.js';
