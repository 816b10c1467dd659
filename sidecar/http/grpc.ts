/**
 * gRPC over HTTP/2 facts Tandem needs (grpc/grpc doc/PROTOCOL-HTTP2.md, doc/statuscodes.md):
 * detecting a call, the `grpc-timeout` codec and status-code classification.
 */

/** gRPC status codes (google.rpc.Code). */
export const GrpcStatus = {
  Ok: 0,
  Cancelled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

/** `application/grpc`, `application/grpc+proto`, … but not gRPC-Web, which is a different protocol. */
export function isGrpcContentType(contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) return false;
  const next = contentType.charCodeAt(16);
  return Number.isNaN(next) || next === 43 /* + */ || next === 59 /* ; */;
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** Parses `grpc-timeout` (at most 8 digits and a unit); undefined when absent or malformed. */
export function parseGrpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * (TIMEOUT_UNIT_MS[match[2] as string] as number);
}

/**
 * Encodes a remaining time as `grpc-timeout`, in the finest unit whose value fits the protocol's 8
 * digits. Rounds up so a deadline never arrives early upstream because of encoding.
 */
export function encodeGrpcTimeout(ms: number): string {
  const micros = Math.ceil(ms * 1_000);
  if (micros < 100_000_000) return `${Math.max(micros, 1)}u`;
  const millis = Math.ceil(ms);
  if (millis < 100_000_000) return `${millis}m`;
  const seconds = Math.ceil(ms / 1_000);
  if (seconds < 100_000_000) return `${seconds}S`;
  return `${Math.min(Math.ceil(ms / 60_000), 99_999_999)}M`;
}

/** Reads `grpc-status` from trailers (or the headers of a trailers-only response). */
export function grpcStatusOf(fields: Record<string, string | string[] | undefined> | undefined): number | undefined {
  const value = fields?.['grpc-status'];
  if (typeof value !== 'string') return undefined;
  const code = Number(value);
  return Number.isInteger(code) && code >= 0 ? code : undefined;
}

/**
 * The HTTP status a gRPC code corresponds to, as Envoy maps them for outlier detection and stats:
 * anything at 500 or above counts as an upstream failure.
 */
export function httpStatusForGrpc(code: number): number {
  switch (code) {
    case GrpcStatus.Ok:
      return 200;
    case GrpcStatus.Cancelled:
      return 499;
    case GrpcStatus.InvalidArgument:
    case GrpcStatus.FailedPrecondition:
    case GrpcStatus.OutOfRange:
      return 400;
    case GrpcStatus.DeadlineExceeded:
      return 504;
    case GrpcStatus.NotFound:
      return 404;
    case GrpcStatus.AlreadyExists:
    case GrpcStatus.Aborted:
      return 409;
    case GrpcStatus.PermissionDenied:
      return 403;
    case GrpcStatus.ResourceExhausted:
      return 429;
    case GrpcStatus.Unimplemented:
      return 501;
    case GrpcStatus.Unavailable:
      return 503;
    case GrpcStatus.Unauthenticated:
      return 401;
    default:
      return 500; // Unknown, Internal, DataLoss and codes from the future
  }
}
