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
