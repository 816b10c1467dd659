import type { Outcome } from '../balancer/balancer.js';
import { ErrorCode, type TandemError } from '../core/errors.js';
import { grpcStatusOf, httpStatusForGrpc } from '../http/grpc.js';
import type { Headers } from '../http/message.js';

/**
 * Endings that say nothing about the endpoint by themselves. Outlier detection
 * (`outlierOutcome.ts`) starts from the same set and adds Tandem's own refusals.
 */
export const NEUTRAL_ENDINGS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([ErrorCode.DownstreamCancelled, ErrorCode.UpstreamRefused, ErrorCode.StreamIdleTimeout]);

/**
 * Whether an attempt counts against its endpoint, for stats and load-aware balancers: local failures count, except those that say nothing bad
 * about the endpoint — the client going away (or Tandem dropping the response to retry), a stream
 * idle by the application's choice, and a stream the endpoint refused unprocessed (it is rotating its
 * connections with GOAWAY, or at its stream limit; the request goes elsewhere). When a head arrived
 * before such an ending, its status still counts. A gRPC status counts as its HTTP equivalent
 * (Envoy's mapping); 5xx counts.
 */
export function isSuccess(status: number | undefined, grpcStatus: number | undefined, error: TandemError | undefined): boolean {
  if (error !== undefined && !NEUTRAL_ENDINGS.has(error.code)) return false;
  if (grpcStatus !== undefined) return httpStatusForGrpc(grpcStatus) < 500;
  return status === undefined || status < 500;
}

/**
 * Builds the outcome of an attempt from what came back.
 * @param latencyMs dispatch to the end of the body (or to the failure).
 * @param timeToHeadMs dispatch to the response head; undefined when none arrived.
 */
export function outcomeOf(
  latencyMs: number,
  timeToHeadMs: number | undefined,
  response: { readonly status: number; readonly headers: Headers; readonly endStream: boolean } | undefined,
  trailers: Headers | undefined,
  error: TandemError | undefined,
): Outcome {
  const status = response?.status;
  const grpcStatus = grpcStatusOf(trailers) ?? (response?.endStream === true ? grpcStatusOf(response.headers) : undefined);
  return { status, grpcStatus, error, success: isSuccess(status, grpcStatus, error), latencyMs, timeToHeadMs };
}
