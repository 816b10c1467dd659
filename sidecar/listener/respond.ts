import { ErrorCode, TandemError } from '../core/errors.js';
import { GrpcStatus, grpcStatusOf } from '../http/grpc.js';
import type { BodyResult, Headers, ProxyResponse } from '../http/message.js';

/**
 * The one place local failures become responses (linkerd's `respond.rs`): an HTTP status with an
 * `x-tandem-error: <code>` header and a one-line text body, or, for gRPC calls, a trailers-only
 * response (HTTP 200, a single HEADERS frame with END_STREAM) whose `grpc-status` and `grpc-message`
 * a gRPC client surfaces as the call's status. gRPC clients never get a bare HTTP error status.
 */
const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  [ErrorCode.NoRoute]: 404,
  [ErrorCode.NoHealthyEndpoint]: 503,
  [ErrorCode.ConnectFailure]: 503,
  [ErrorCode.ConnectTimeout]: 503,
  [ErrorCode.UpstreamRefused]: 503,
  [ErrorCode.UpstreamReset]: 502,
  [ErrorCode.UpstreamProtocol]: 502,
  [ErrorCode.DeadlineExceeded]: 504,
  [ErrorCode.UpstreamTimeout]: 504,
  [ErrorCode.StreamIdleTimeout]: 504,
  [ErrorCode.Overflow]: 503,
  [ErrorCode.DownstreamCancelled]: 499,
  [ErrorCode.BadRequest]: 400,
  [ErrorCode.HeadersTooLarge]: 431,
  [ErrorCode.Unauthorized]: 403,
  [ErrorCode.ShuttingDown]: 503,
  [ErrorCode.Internal]: 500,
};

const GRPC_STATUS: Readonly<Record<ErrorCode, number>> = {
  [ErrorCode.NoRoute]: GrpcStatus.Unimplemented,
  [ErrorCode.NoHealthyEndpoint]: GrpcStatus.Unavailable,
  [ErrorCode.ConnectFailure]: GrpcStatus.Unavailable,
  [ErrorCode.ConnectTimeout]: GrpcStatus.Unavailable,
  [ErrorCode.UpstreamRefused]: GrpcStatus.Unavailable,
  [ErrorCode.UpstreamReset]: GrpcStatus.Unavailable,
  [ErrorCode.UpstreamProtocol]: GrpcStatus.Unavailable,
  [ErrorCode.DeadlineExceeded]: GrpcStatus.DeadlineExceeded,
  [ErrorCode.UpstreamTimeout]: GrpcStatus.DeadlineExceeded,
  [ErrorCode.StreamIdleTimeout]: GrpcStatus.DeadlineExceeded,
  [ErrorCode.Overflow]: GrpcStatus.Unavailable,
  [ErrorCode.DownstreamCancelled]: GrpcStatus.Cancelled,
  [ErrorCode.BadRequest]: GrpcStatus.Internal,
  [ErrorCode.HeadersTooLarge]: GrpcStatus.ResourceExhausted,
  [ErrorCode.Unauthorized]: GrpcStatus.PermissionDenied,
  [ErrorCode.ShuttingDown]: GrpcStatus.Unavailable,
  [ErrorCode.Internal]: GrpcStatus.Internal,
};

export interface LocalReply {
  readonly status: number;
  readonly headers: Headers;
  /** Text body; undefined for gRPC (trailers-only). */
  readonly body: string | undefined;
}

/**
 * The gRPC status a client reads from an RST_STREAM with this HTTP/2 error code (gRPC's
 * PROTOCOL-HTTP2.md, "Errors"; grpc-js does the same): what an HTTP/2 gRPC client sees when Tandem
 * passes an upstream's reset on.
 */
function grpcStatusOfReset(http2Code: number): number {
  switch (http2Code) {
    case 7: // REFUSED_STREAM
      return GrpcStatus.Unavailable;
    case 8: // CANCEL
      return GrpcStatus.Cancelled;
    case 11: // ENHANCE_YOUR_CALM
      return GrpcStatus.ResourceExhausted;
    case 12: // INADEQUATE_SECURITY
      return GrpcStatus.PermissionDenied;
    default:
      return GrpcStatus.Internal;
  }
}

/**
 * What a client is told of a local failure before the response head: an HTTP status, and for a gRPC
 * call the gRPC status (with HTTP 200). A stream the upstream reset reaches an HTTP/2 gRPC client as
 * the same reset (see `Http2Downstream.reply`). Anything thrown that is not a TandemError is a bug in
 * Tandem, answered as TANDEM_INTERNAL_ERROR.
 */
export function replyStatus(error: unknown, grpc: boolean): { readonly status: number; readonly grpcStatus: number | undefined } {
  const code = TandemError.is(error) ? error.code : ErrorCode.Internal;
  if (!grpc) return { status: HTTP_STATUS[code], grpcStatus: undefined };
  const reset = code === ErrorCode.UpstreamReset ? (error as TandemError).http2Code : undefined;
  return { status: 200, grpcStatus: reset === undefined ? GRPC_STATUS[code] : grpcStatusOfReset(reset) };
}

/**
 * The gRPC status a client reads when a call's response fails after its head: trailers carrying the
 * failure's own status, or — for a failure with an HTTP/2 code, passed on as RST_STREAM — the status
 * that reset stands for (see `Http2Downstream.fail`).
 */
export function failedBodyGrpcStatus(error: TandemError): number {
  return error.http2Code === undefined ? GRPC_STATUS[error.code] : grpcStatusOfReset(error.http2Code);
}

export function localReply(error: TandemError, grpc: boolean): LocalReply {
  if (grpc) {
    return {
      status: 200,
      headers: {
        'content-type': 'application/grpc',
        'grpc-status': String(GRPC_STATUS[error.code]),
        'grpc-message': encodeGrpcMessage(error.message),
        'x-tandem-error': error.code,
      },
      body: undefined,
    };
  }
  const body = `${error.message}\n`;
  return {
    status: HTTP_STATUS[error.code],
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'x-tandem-error': error.code,
    },
    body,
  };
}

/** Percent-encodes a grpc-message (PROTOCOL-HTTP2.md: everything outside 0x20–0x7E, and `%`). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * What the client got for a response whose body has ended, for the edge stage's observers (request
 * metrics, the SERVER span): the local reply that replaced a head its protocol could not carry
 * (`unforwardable`), else the response's status, and for gRPC the status from the trailers, a
 * trailers-only head, or the one a body that failed midway was reported with.
 */
export function answeredStatus(
  grpc: boolean,
  response: ProxyResponse,
  result: BodyResult,
  unforwardable: TandemError | undefined,
): { readonly status: number; readonly grpcStatus: number | undefined } {
  if (unforwardable !== undefined) return replyStatus(unforwardable, grpc);
  if (!grpc) return { status: response.status, grpcStatus: undefined };
  let grpcStatus = grpcStatusOf(result.trailers) ?? (response.endStream ? grpcStatusOf(response.headers) : undefined);
  if (grpcStatus === undefined && result.error !== undefined) grpcStatus = failedBodyGrpcStatus(result.error);
  return { status: response.status, grpcStatus };
}
