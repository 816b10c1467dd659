import type { Layer } from '../http/message.js';
import { countInFlight } from '../layers/countInFlight.js';
import { requestMetrics } from '../layers/requestMetrics.js';
import { traceRequest } from '../layers/traceRequest.js';
import type { InFlight } from '../lifecycle/inFlight.js';
import type { Direction, ListenerRequestMetrics } from '../observe/requestMetrics.js';
import type { Tracing } from '../observe/tracing/tracing.js';

/**
 * The edge stage every listener's stack starts with (outbound, inbound, gateway): it sits above the
 * router, so it sees every request the listener accepted, route misses and local failures included.
 */
export function edgeStage(metrics: ListenerRequestMetrics, work: InFlight, tracing: { readonly tracing: Tracing; readonly direction: Direction; readonly listener: string } | undefined): Layer[] {
  return [
    // What the client got, for every request: status class, gRPC status, duration, in flight.
    requestMetrics(metrics),
    // The listener's requests in flight: a drain serves them to the end, and cuts them at drain.timeout.
    countInFlight(work),
    // A SERVER span per request (CLIENT spans per attempt come from the balance layer's dispatch).
    ...(tracing === undefined ? [] : [traceRequest(tracing.tracing, tracing.direction, tracing.listener)]),
  ];
}
