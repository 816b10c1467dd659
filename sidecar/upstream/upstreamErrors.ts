import { ErrorCode, TandemError } from '../core/errors.js';

/** Names for HTTP/2 error codes (RFC 9113 §7), for messages a human can act on. */
const HTTP2_CODE_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

export function http2CodeName(code: number): string {
  return HTTP2_CODE_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** Who the failure concerns, for the message and the error's fields. */
export interface Peer {
  readonly upstream: string;
  /** `address:port`. */
  readonly endpoint: string;
}

function reason(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code === undefined ? cause.message : `${code}`;
  }
  return String(cause);
}

export function connectFailed(peer: Peer, cause: unknown): TandemError {
  if (TandemError.is(cause) && cause.code === ErrorCode.ConnectTimeout) return cause;
  return new TandemError(
    ErrorCode.ConnectFailure,
    `upstream "${peer.upstream}": cannot connect to ${peer.endpoint} (${reason(cause)})`,
    { ...peer, cause, notProcessed: true },
  );
}

export function connectTimedOut(peer: Peer, timeoutMs: number): TandemError {
  return new TandemError(
    ErrorCode.ConnectTimeout,
    `upstream "${peer.upstream}": no connection to ${peer.endpoint} within ${timeoutMs}ms`,
    { ...peer, notProcessed: true },
  );
}

export function streamRefused(peer: Peer, why: string): TandemError {
  return new TandemError(ErrorCode.UpstreamRefused, `upstream "${peer.upstream}": ${peer.endpoint} refused the request (${why})`, {
    ...peer,
    http2Code: 7,
    notProcessed: true,
  });
}

/** The peer reset this one stream with RST_STREAM. */
export function streamReset(peer: Peer, http2Code: number): TandemError {
  return new TandemError(
    ErrorCode.UpstreamReset,
    `upstream "${peer.upstream}": ${peer.endpoint} reset the stream (${http2CodeName(http2Code)})`,
    { ...peer, http2Code },
  );
}

/** The connection carrying the request died; the peer sent no per-stream verdict. */
export function connectionLost(peer: Peer, cause: unknown, stale = false): TandemError {
  return new TandemError(
    ErrorCode.UpstreamReset,
    `upstream "${peer.upstream}": connection to ${peer.endpoint} lost before the response completed (${reason(cause)})`,
    { ...peer, cause, staleConnection: stale },
  );
}

export function protocolError(peer: Peer, what: string): TandemError {
  return new TandemError(ErrorCode.UpstreamProtocol, `upstream "${peer.upstream}": ${peer.endpoint} ${what}`, peer);
}
