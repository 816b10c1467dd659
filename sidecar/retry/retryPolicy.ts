import { ErrorCode, type TandemError } from '../core/errors.js';
import { GrpcStatus, grpcStatusOf } from '../http/grpc.js';
import type { Headers } from '../http/message.js';
import type { RetryCondition, RetryConfig } from './retryConfig.js';

/** Re-exported beside `retryCondition`, whose answer it is. */
export type { RetryCondition } from './retryConfig.js';

/** What one attempt came back with. */
export type AttemptResult =
  | { readonly kind: 'response'; readonly status: number; readonly headers: Headers; readonly endStream: boolean }
  | { readonly kind: 'error'; readonly error: TandemError };

/** Methods a repeat of which does no harm (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** The upstream never saw the request, so repeating it is safe whatever the method. */
const NOT_PROCESSED: ReadonlySet<RetryCondition> = new Set(['connect-failure', 'refused-stream']);

/**
 * The conditions each local error matches, after Envoy's router filter docs: a failure before any
 * response counts as a `5xx` and a `gateway-error` too, since the edge answers it with a 502–504.
 * `TANDEM_UPSTREAM_TIMEOUT` reaches a retry decision only as a per-try timeout (the route timeout ends
 * all attempts), which Envoy treats as a 504 and retries under `reset`, `5xx` and `gateway-error`.
 * Every other code is never retried: the deadline has passed or nobody is waiting (deadline exceeded,
 * downstream cancelled), a repeat would fail the same way or add load where a limit already said no
 * (bad request, overflow, no healthy endpoint, shutting down, internal), or the response had already
 * started (stream idle timeout).
 */
const ERROR_CONDITIONS: Readonly<Partial<Record<ErrorCode, ReadonlySet<RetryCondition>>>> = {
  [ErrorCode.ConnectFailure]: new Set(['connect-failure', '5xx', 'gateway-error']),
  [ErrorCode.ConnectTimeout]: new Set(['connect-failure', '5xx', 'gateway-error']),
  [ErrorCode.UpstreamRefused]: new Set(['refused-stream', '5xx', 'gateway-error']),
  [ErrorCode.UpstreamReset]: new Set(['reset', '5xx', 'gateway-error']),
  [ErrorCode.UpstreamProtocol]: new Set(['reset', '5xx', 'gateway-error']),
  [ErrorCode.UpstreamTimeout]: new Set(['reset', '5xx', 'gateway-error']),
};

/** Envoy's `x-envoy-retry-grpc-on` names and the `grpc-status` each stands for. */
const GRPC_STATUS_CONDITIONS: ReadonlyMap<number, RetryCondition> = new Map<number, RetryCondition>([
  [GrpcStatus.Cancelled, 'cancelled'],
  [GrpcStatus.DeadlineExceeded, 'deadline-exceeded'],
  [GrpcStatus.Internal, 'internal'],
  [GrpcStatus.ResourceExhausted, 'resource-exhausted'],
  [GrpcStatus.Unavailable, 'unavailable'],
]);

const GATEWAY_ERRORS: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * The retry_on condition `result` matches for this request, or undefined when it must not be retried.
 * Conditions are tried in `policy.retry_on` order, so the first listed match is the one reported.
 *
 * A plain-HTTP request with a non-idempotent method is retried only when the upstream certainly did not
 * see it, unless `non_idempotent` allows more. gRPC calls are not held to that: gRPC declares retry
 * safety per method in its service config (gRFC A6) rather than by HTTP method (always POST), so
 * listing a condition is the user's opt-in.
 */
export function retryCondition(
  policy: RetryConfig,
  request: { readonly method: string; readonly grpc: boolean },
  result: AttemptResult,
): RetryCondition | undefined {
  const anyCondition = request.grpc || policy.non_idempotent || IDEMPOTENT_METHODS.has(request.method);
  for (const condition of policy.retry_on) {
    if (!anyCondition && !NOT_PROCESSED.has(condition)) continue;
    if (matches(condition, policy, request.grpc, result)) return condition;
  }
  return undefined;
}

function matches(condition: RetryCondition, policy: RetryConfig, grpc: boolean, result: AttemptResult): boolean {
  if (result.kind === 'error') return ERROR_CONDITIONS[result.error.code]?.has(condition) ?? false;
  switch (condition) {
    case '5xx':
      return result.status >= 500;
    case 'gateway-error':
      return GATEWAY_ERRORS.has(result.status);
    case 'retriable-status-codes':
      return policy.retriable_status_codes.includes(result.status);
    case 'connect-failure':
    case 'refused-stream':
    case 'reset':
      return false;
    default:
      return grpc && trailersOnlyGrpcCondition(result) === condition;
  }
}

/**
 * The condition a trailers-only gRPC response's status stands for. Only a trailers-only response can be
 * judged: it carries `grpc-status` in its one HEADERS frame. Any other response's status comes in the
 * trailers, after the body has started towards the client, when it is too late to try again.
 */
function trailersOnlyGrpcCondition(response: { readonly headers: Headers; readonly endStream: boolean }): RetryCondition | undefined {
  if (!response.endStream) return undefined;
  const status = grpcStatusOf(response.headers);
  return status === undefined ? undefined : GRPC_STATUS_CONDITIONS.get(status);
}
