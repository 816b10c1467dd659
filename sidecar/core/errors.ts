/**
 * Every failure Tandem produces itself is a `TandemError` with a stable `code`.
 *
 * Codes are part of the public interface: they travel to clients in the `x-tandem-error` header and
 * appear in logs and metrics, so they never change meaning. Errors are plain values on the data path;
 * they are mapped to HTTP statuses and gRPC codes once, at the edge (`sidecar/listener/respond.ts`).
 */
export const ErrorCode = {
  /** No upstream matches the request's authority. */
  NoRoute: 'TANDEM_NO_ROUTE',
  /** The upstream has no endpoint that may take traffic. */
  NoHealthyEndpoint: 'TANDEM_NO_HEALTHY_ENDPOINT',
  /** The TCP (or later TLS) connection to the endpoint could not be established. */
  ConnectFailure: 'TANDEM_CONNECT_FAILURE',
  /** The connection to the endpoint was not established within `connect_timeout`. */
  ConnectTimeout: 'TANDEM_CONNECT_TIMEOUT',
  /** The endpoint refused the stream before processing it (REFUSED_STREAM, or above a GOAWAY's last stream id). */
  UpstreamRefused: 'TANDEM_UPSTREAM_REFUSED',
  /** The upstream connection or stream was reset before the response completed. */
  UpstreamReset: 'TANDEM_UPSTREAM_RESET',
  /** The upstream sent something that is not valid HTTP. */
  UpstreamProtocol: 'TANDEM_UPSTREAM_PROTOCOL_ERROR',
  /** The request's deadline (`grpc-timeout`) passed. */
  DeadlineExceeded: 'TANDEM_DEADLINE_EXCEEDED',
  /** The route `timeout` (all attempts) or an attempt's `per_try_timeout` passed before the response started. */
  UpstreamTimeout: 'TANDEM_UPSTREAM_TIMEOUT',
  /** Nothing moved in either direction for `stream_idle_timeout`. */
  StreamIdleTimeout: 'TANDEM_STREAM_IDLE_TIMEOUT',
  /** A circuit-breaker limit (`max_requests`, `max_pending_requests`…) is reached; the upstream was not touched. */
  Overflow: 'TANDEM_OVERFLOW',
  /** The downstream client went away; nobody is waiting for the response. */
  DownstreamCancelled: 'TANDEM_DOWNSTREAM_CANCELLED',
  /** The request cannot be proxied as sent. */
  BadRequest: 'TANDEM_BAD_REQUEST',
  /** The request head is over the listener's `max_request_headers_kb` or `max_headers_count`. */
  HeadersTooLarge: 'TANDEM_HEADERS_TOO_LARGE',
  /** The caller's identity may not call this service: inbound `authorization` denied it. The app never saw it. */
  Unauthorized: 'TANDEM_UNAUTHORIZED',
  /** The sidecar is shutting down and takes no new work on this path. */
  ShuttingDown: 'TANDEM_SHUTTING_DOWN',
  /** A bug in Tandem: an unexpected exception on the request path. Logged with its stack. */
  Internal: 'TANDEM_INTERNAL_ERROR',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Structured context carried by an error, for logs, admin output and the edge mapping. */
export interface ErrorContext {
  /** Upstream (cluster) name, when the failure belongs to one. */
  readonly upstream?: string;
  /** `address:port` of the endpoint involved. */
  readonly endpoint?: string;
  /** HTTP/2 error code from RST_STREAM or GOAWAY, when the peer sent one. */
  readonly http2Code?: number;
  /** The lower-level error that caused this one. */
  readonly cause?: unknown;
  /**
   * The upstream certainly did not process the request (connect failed, stream refused, above a
   * GOAWAY's last stream id), so any request may be sent again.
   */
  readonly notProcessed?: boolean;
  /**
   * A reused keep-alive connection failed before any response byte: the peer most likely closed it
   * while idle. Safe to send again for idempotent requests only.
   */
  readonly staleConnection?: boolean;
}

const brand = Symbol.for('tandem.error');

export class TandemError extends Error {
  override readonly name = 'TandemError';
  readonly code: ErrorCode;
  readonly upstream: string | undefined;
  readonly endpoint: string | undefined;
  readonly http2Code: number | undefined;
  readonly notProcessed: boolean;
  readonly staleConnection: boolean;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.upstream = context.upstream;
    this.endpoint = context.endpoint;
    this.http2Code = context.http2Code;
    this.notProcessed = context.notProcessed ?? false;
    this.staleConnection = context.staleConnection ?? false;
  }

  /** Works across duplicate copies of this module (undici's branding trick). */
  static is(value: unknown): value is TandemError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
Object.defineProperty(TandemError.prototype, brand, { value: true });
