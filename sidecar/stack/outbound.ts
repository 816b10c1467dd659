import { createHashKeySources } from '../affinity/hashPolicy.js';
import { SessionCookieCodec } from '../affinity/sessionCookie.js';
import { balancerFactory } from '../balancer/registry.js';
import { routeMatches, type RouteConfig } from '../config/routeConfig.js';
import { createLogger } from '../core/log.js';
import type { Cluster } from '../cluster/cluster.js';
import { stack, type Service } from '../http/message.js';
import { balance } from '../layers/balance.js';
import { hashKey } from '../layers/hashKey.js';
import { limits } from '../layers/limits.js';
import { retry, type RetryObserver } from '../layers/retry.js';
import { statefulSession } from '../layers/statefulSession.js';
import { timeout } from '../layers/timeout.js';
import type { InFlight } from '../lifecycle/inFlight.js';
import type { DecidingLayers } from '../observe/lbDecision.js';
import type { Tracing } from '../observe/tracing/tracing.js';
import type { UpstreamMetrics } from '../observe/metrics.js';
import type { ListenerRequestMetrics } from '../observe/requestMetrics.js';
import { RetryBudget } from '../retry/retryBudget.js';
import { mergeRetry } from '../retry/retryConfig.js';
import { edgeStage } from './edge.js';
import type { RouteTarget } from './router.js';

const log = createLogger('stack');

/** Tracing for one listener's edge stage, when tracing is on. */
export interface TracingAt {
  readonly tracing: Tracing;
  readonly listener: string;
}

/**
 * The outbound direction: requests the local app sends through one of Tandem's outbound listeners.
 * Read top to bottom, this file is the whole request path; it is the only place (with `edge.ts`,
 * `inbound.ts` and `gateway.ts`) where layers are composed.
 *
 *   edge stage      sees every request the listener accepted: request metrics, drain accounting,
 *                   tracing
 *   router          listener port or authority → upstream (a miss fails here, inside the edge stage)
 *   upstream stack  per upstream route: timeout → stateful session → hash key → retry → limits → balance
 */
export function outbound(listener: ListenerRequestMetrics, router: Service, work: InFlight, tracing?: TracingAt): Service {
  return stack(edgeStage(listener, work, tracing === undefined ? undefined : { ...tracing, direction: 'outbound' }), router);
}

export interface UpstreamStackOptions {
  /** HMAC key for the upstream's `stateful_session`, already read from config or its key file. */
  readonly sessionKey?: Buffer;
  /** Where retries and refusals are counted. */
  readonly metrics?: Pick<UpstreamMetrics, 'retries' | 'retriesRefused'>;
}

/** An upstream's stack, with the pieces of it that decide where a request goes (for `/debug/lb`). */
export interface UpstreamTarget extends RouteTarget {
  readonly deciding: DecidingLayers;
  /** The upstream's stack under a gateway route's timeout and retry overrides (built once per route). */
  withRoute(overrides: Partial<Pick<RouteConfig, 'timeout' | 'stream_idle_timeout' | 'retry'>>): Service;
}

/**
 * The request path to one upstream, shared by every outbound listener that routes to it (its local
 * port, the HTTP proxy port). Each of the upstream's `routes` gets its own stack (its timeouts and
 * retry policy); requests no route matches get the upstream's own settings. Everything per upstream —
 * limits, balancer, endpoints, hash key sources, the session cookie — is shared.
 */
export function upstreamStack(cluster: Cluster, options: UpstreamStackOptions = {}): UpstreamTarget {
  const { config } = cluster;
  const hashing = balancerFactory(config.lb.policy)?.usesHashKey === true;
  if (hashing && config.hash_policy.length === 0) {
    log.warn('hashing policy without hash_policy: every request is balanced at random', { upstream: cluster.name, policy: config.lb.policy });
  }
  const session = config.stateful_session;
  const deciding: DecidingLayers = {
    hashing: hashing ? { policy: config.hash_policy, entries: createHashKeySources(config.hash_policy) } : undefined,
    session:
      session === undefined || options.sessionKey === undefined
        ? undefined
        : { cookieName: session.cookie.name, codec: new SessionCookieCodec(options.sessionKey, cluster.name, session.cookie.ttl?.ms) },
  };
  const fallback = routeStack(cluster, {}, deciding, options);
  const withRoute = (overrides: Partial<RouteConfig>): Service => routeStack(cluster, overrides, deciding, options);
  if (config.routes.length === 0) return { upstream: cluster.name, service: fallback, deciding, withRoute };
  const routes = config.routes.map((route) => ({ match: route.match, service: routeStack(cluster, route, deciding, options) }));
  return {
    upstream: cluster.name,
    service: (request, context) => (routes.find((route) => routeMatches(route.match, request.method, request.path))?.service ?? fallback)(request, context),
    deciding,
    withRoute,
  };
}

/** The layers for one route, outermost first. */
function routeStack(cluster: Cluster, route: Partial<RouteConfig>, deciding: DecidingLayers, options: UpstreamStackOptions): Service {
  const { config } = cluster;
  const { hashing, session } = deciding;
  const cookie = config.stateful_session?.cookie;
  const policy = mergeRetry(config.retry, route.retry);
  // A route that sets its own budget spends its own; otherwise the upstream's routes share one.
  const budget = route.retry?.budget === undefined ? cluster.retryBudget : new RetryBudget(policy.budget, () => performance.now());
  const metrics = options.metrics;
  const observer: RetryObserver = {
    retried: (condition) => metrics?.retries.inc({ condition }),
    refused: (reason) => metrics?.retriesRefused.inc({ reason }),
  };
  return stack(
    [
      // The client's deadline, the route timeout (to the response head) and the stream idle timeout.
      timeout({
        upstream: cluster.name,
        timeoutMs: (route.timeout ?? config.timeout).ms,
        streamIdleTimeoutMs: (route.stream_idle_timeout ?? config.stream_idle_timeout).ms,
      }),
      // A valid session cookie pins the request to its endpoint; the response names the endpoint that served.
      ...(session === undefined || cookie === undefined
        ? []
        : [
            statefulSession({
              cookieName: cookie.name,
              path: cookie.path,
              maxAgeSeconds: cookie.ttl === undefined ? undefined : Math.ceil(cookie.ttl.ms / 1000),
              codec: session.codec,
            }),
          ]),
      // The hash key for ring_hash / maglev, from the upstream's hash_policy (misses are counted).
      ...(hashing === undefined ? [] : [hashKey(hashing.entries, cluster)]),
      // Free resends of what the upstream never processed (refused streams, failed connects, dead
      // keep-alive sockets); then retry_on, judged on each attempt's head or failure, within
      // num_retries, the budget, max_retries and the time left.
      retry({ upstream: cluster.name, policy, budget, limits: cluster.limits, observer }),
      // max_requests: over it, TANDEM_OVERFLOW without touching the upstream.
      limits(cluster.limits),
    ],
    // Pick an endpoint, send on its connection pool, record the outcome when the body ends.
    balance(cluster),
  );
}
