import { TRACE_HEADERS } from '../observe/tracing/tracing.js';
import type { RequestContext } from './context.js';
import type { ProxyRequest } from './request.js';

/**
 * Numbers an attempt for the upstream, on the head a pool is about to send: `x-tandem-attempt` from 1
 * (Envoy's `x-envoy-attempt-count`), and for gRPC `grpc-previous-rpc-attempts` on every attempt after
 * the first (gRFC A6), so a server can tell a retry from a first try.
 */
export function numberAttempt(head: Record<string, unknown>, request: ProxyRequest, attempt: number): void {
  head['x-tandem-attempt'] = String(attempt);
  if (request.grpc && attempt > 1) head['grpc-previous-rpc-attempts'] = String(attempt - 1);
}

/**
 * Writes the attempt's trace context (its CLIENT span) on the head, replacing every trace header the
 * client sent, in whichever format: the upstream's parent is this attempt, not the client's span.
 * Nothing changes with tracing off.
 */
export function propagateTrace(head: Record<string, unknown>, context: RequestContext): void {
  const trace = context.attemptTrace;
  if (trace === undefined) return;
  for (const name of TRACE_HEADERS) delete head[name];
  for (const name in trace.headers) head[name] = trace.headers[name];
}
