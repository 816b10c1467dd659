import { createHashKeySources } from '../affinity/hashPolicy.js';
import { SessionCookieCodec } from '../affinity/sessionCookie.js';
import { balancerFactory } from '../balancer/registry.js';
import { createLogger } from '../core/log.js';
import type { Cluster } from '../cluster/cluster.js';
import { stack, type Layer, type Service } from '../http/message.js';
import { balance } from '../layers/balance.js';
import { deadline } from '../layers/deadline.js';
import { hashKey } from '../layers/hashKey.js';
import { statefulSession } from '../layers/statefulSession.js';
import { transparentRetry } from '../layers/transparentRetry.js';

const log = createLogger('stack');

export interface UpstreamStackOptions {
  /** HMAC key for the upstream's `stateful_session`, already read from config or its key file. */
  readonly sessionKey?: Buffer;
}

/**
 * The request path to one upstream, outermost layer first. Every listener that sends traffic to an
 * upstream (its local port, the HTTP proxy port, the inbound listener for the local app) uses this.
 */
export function upstreamStack(cluster: Cluster, options: UpstreamStackOptions = {}): Service {
  const { config } = cluster;
  const session = config.stateful_session;
  const hashing = balancerFactory(config.lb.policy)?.usesHashKey === true;
  if (hashing && config.hash_policy.length === 0) {
    log.warn('hashing policy without hash_policy: every request is balanced at random', { upstream: cluster.name, policy: config.lb.policy });
  }
  return stack(
    [
      // grpc-timeout → absolute deadline; each attempt sends upstream the time that remains.
      deadline(),
      // A valid session cookie pins the request to its endpoint; the response names the endpoint that served.
      ...optional(
        session !== undefined && options.sessionKey !== undefined,
        () =>
          statefulSession({
            cookieName: session?.cookie.name as string,
            path: session?.cookie.path as string,
            maxAgeSeconds: session?.cookie.ttl === undefined ? undefined : Math.ceil(session.cookie.ttl.ms / 1000),
            codec: new SessionCookieCodec(options.sessionKey as Buffer, cluster.name, session?.cookie.ttl?.ms),
          }),
      ),
      // The hash key for ring_hash / maglev, from the upstream's hash_policy (misses are counted).
      ...optional(hashing, () => hashKey(createHashKeySources(config.hash_policy), cluster)),
      // Resend what the upstream never processed: refused streams, streams above a GOAWAY's
      // last-stream-id, failed connects, dead keep-alive sockets (idempotent requests only).
      transparentRetry(),
    ],
    // Pick an endpoint, send on its connection pool, record the outcome when the body ends.
    balance(cluster),
  );
}

function optional(present: boolean, layer: () => Layer): Layer[] {
  return present ? [layer()] : [];
}
