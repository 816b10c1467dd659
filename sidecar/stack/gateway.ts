import { stack, type Service } from '../http/message.js';
import type { InFlight } from '../lifecycle/inFlight.js';
import type { ListenerRequestMetrics } from '../observe/requestMetrics.js';
import type { Tracing } from '../observe/tracing/tracing.js';
import { edgeStage } from './edge.js';

/**
 * A gateway listener: requests from clients outside the mesh. The gateway is a listener and a router,
 * not a stack of its own: past its router, a request goes through the same per-upstream stack an
 * outbound request to that upstream takes (`outbound.ts`), with the route's timeout and retry.
 *
 *   edge stage      request metrics, drain accounting, tracing (direction `gateway`)
 *   router          host, path, method, headers → upstream, or one of a weighted split's upstreams
 *   upstream stack  timeout → stateful session → hash key → retry → limits → balance
 */
export function gateway(listener: ListenerRequestMetrics, router: Service, work: InFlight, tracing: { readonly tracing: Tracing; readonly listener: string } | undefined): Service {
  return stack(edgeStage(listener, work, tracing === undefined ? undefined : { ...tracing, direction: 'gateway' }), router);
}
