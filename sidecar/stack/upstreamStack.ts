import type { Cluster } from '../cluster/cluster.js';
import { stack, type Service } from '../http/message.js';
import { balance } from '../layers/balance.js';
import { deadline } from '../layers/deadline.js';
import { transparentRetry } from '../layers/transparentRetry.js';

/**
 * The request path to one upstream, outermost layer first. Every listener that sends traffic to an
 * upstream (its local port, the HTTP proxy port, the inbound listener for the local app) uses this.
 */
export function upstreamStack(cluster: Cluster): Service {
  return stack(
    [
      // grpc-timeout → absolute deadline; each attempt sends upstream the time that remains.
      deadline(),
      // Resend what the upstream never processed: refused streams, streams above a GOAWAY's
      // last-stream-id, failed connects, dead keep-alive sockets (idempotent requests only).
      transparentRetry(),
    ],
    // Pick an endpoint, send on its connection pool, record the outcome when the body ends.
    balance(cluster),
  );
}
