import type { Outcome } from '../balancer/balancer.js';
import { ErrorCode } from '../core/errors.js';
import { httpStatusForGrpc } from '../http/grpc.js';
import { NEUTRAL_ENDINGS } from './outcome.js';

/**
 * What one finished attempt says about its endpoint, for outlier detection:
 * - `neutral`: nothing (the attempt never really reached the endpoint, or we gave up on it ourselves);
 * - `local_failure`: Tandem could not complete the exchange (Envoy's "locally originated" errors);
 * - `success`, `server_error` (a 5xx other than 502/503/504), `gateway_failure` (502/503/504): the
 *   endpoint answered with that status.
 */
export type OutlierSignal = 'neutral' | 'local_failure' | 'success' | 'server_error' | 'gateway_failure';

/**
 * Failures that are not the endpoint's fault: the neutral endings every observer shares (the client
 * went away, the endpoint refused the stream unprocessed, the stream sat idle), plus Tandem's own
 * refusals — a circuit breaker, an unproxiable request, shutting down.
 */
const NEUTRAL_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([...NEUTRAL_ENDINGS, ErrorCode.Overflow, ErrorCode.BadRequest, ErrorCode.ShuttingDown]);

const FIRST_SERVER_ERROR = 500;
const GATEWAY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * Classifies an attempt. A gRPC status counts as its HTTP equivalent (UNAVAILABLE is 503, INTERNAL
 * 500, DEADLINE_EXCEEDED 504; NOT_FOUND and INVALID_ARGUMENT are 4xx and count as answers). A
 * neutral ending after a response head (the client left mid-body, Tandem dropped a 503 to retry it)
 * is judged by that head. An attempt with neither an error nor a status taught us nothing.
 */
export function classifyForOutlierDetection(outcome: Pick<Outcome, 'status' | 'grpcStatus' | 'error'>): OutlierSignal {
  if (outcome.error !== undefined && !NEUTRAL_ERRORS.has(outcome.error.code)) return 'local_failure';
  const status = outcome.grpcStatus !== undefined ? httpStatusForGrpc(outcome.grpcStatus) : outcome.status;
  if (status === undefined) return 'neutral';
  if (status < FIRST_SERVER_ERROR) return 'success';
  return GATEWAY_STATUSES.has(status) ? 'gateway_failure' : 'server_error';
}
