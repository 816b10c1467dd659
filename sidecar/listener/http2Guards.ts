import { constants, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream, type ServerOptions } from 'node:http2';
import { ErrorCode, TandemError } from '../core/errors.js';

const { NGHTTP2_ENHANCE_YOUR_CALM } = constants;

/**
 * Protecting a listener's HTTP/2 sessions from abusive clients (reliability-matrix §1b, A1–A12).
 * nghttp2 and Node already close a connection for most floods (PING, SETTINGS, empty DATA,
 * CONTINUATION, window overflow, PRIORITY through nghttp2's glitch limit); what is left to Tandem is
 * the rapid reset that nghttp2's token bucket lets through — Envoy 1.27.1's premature-reset ratio —
 * never forwarding a stream the client has already reset, and counting every cut.
 */

/**
 * Node's flood limits, tightened for a proxy. Each ends the connection with a GOAWAY and a session
 * error (which `guardHttp2Session` counts).
 */
export const HTTP2_FLOOD_LIMITS = {
  /** Invalid frames (empty DATA, malformed ones) before the connection is closed; Node's default 1000. Envoy closes at the first invalid HEADERS. */
  maxSessionInvalidFrames: 100,
  /** Streams refused over SETTINGS_MAX_CONCURRENT_STREAMS before the connection is closed (Node's default, written down). */
  maxSessionRejectedStreams: 100,
  /**
   * nghttp2's token bucket of RST_STREAMs a client may send (its default: 1000, 33 per second).
   * 500 is Envoy's `premature_reset_total_stream_count`: the ratio below acts well before the bucket
   * runs dry; the bucket bounds a client that mixes in enough finished streams to stay under it.
   */
  streamResetBurst: 500,
  streamResetRate: 33,
} as const satisfies ServerOptions;

/** Envoy's `overload.premature_reset_min_stream_lifetime_seconds`: a stream ended sooner than this, unanswered, was reset prematurely. */
const PREMATURE_RESET_MIN_STREAM_LIFETIME_MS = 1_000;
/**
 * Streams a connection must have closed before its premature-reset ratio is judged. Envoy's
 * `premature_reset_total_stream_count` is 500; 100 (the matrix's value) cuts an attacker sooner, and a
 * legitimate client still needs more than 50 unanswered resets in its first 100 streams to be cut.
 */
const PREMATURE_RESET_MIN_STREAMS = 100;
/** A session told to go away for abuse that still has its socket this long after is destroyed. */
const ABUSE_GOAWAY_GRACE_MS = 1_000;
/**
 * How long the GOAWAY of a session Tandem ends itself gets to reach the client before the socket is
 * destroyed. An abusive client is still sending: closing a socket with unread input resets it, and
 * a GOAWAY not yet on the wire then never is (seen once in 6 runs of test/integration/http2Guards on a
 * loaded machine, destroyed at once). Envoy's `delayed_close_timeout` (1 s) is there for the same reason.
 */
const GOAWAY_FLUSH_MS = 100;

/** nghttp2's codes for the errors a flood ends a session with (nghttp2.h). */
const NGHTTP2_ERR_FLOODED = -904;
const NGHTTP2_ERR_TOO_MANY_CONTINUATIONS = -905;

/**
 * Hands each new stream to `onStream` on the next turn of the event loop, unless the client has
 * reset it meanwhile: a HEADERS frame and its RST_STREAM arriving together (rapid reset,
 * CVE-2023-44487) then never reach an upstream. A stream's errors are observed through 'close'; the
 * listener is added here, before the deferral, so an early reset is never an unhandled 'error'.
 */
export function deferredDispatch(
  onStream: (stream: ServerHttp2Stream, head: IncomingHttpHeaders, flags: number) => void,
): (stream: ServerHttp2Stream, head: IncomingHttpHeaders, flags: number) => void {
  return (stream, head, flags) => {
    stream.on('error', noop);
    setImmediate(() => {
      if (!stream.destroyed && !stream.closed) onStream(stream, head, flags);
    });
  };
}

/**
 * Watches one session for abuse and ends it when found, counting each cut by reason:
 *
 * - `http2_premature_reset`: once `PREMATURE_RESET_MIN_STREAMS` streams have closed and more than
 *   half of them closed within a second of opening without a response head (Envoy 1.27.1's rule),
 *   GOAWAY(ENHANCE_YOUR_CALM) and the socket is closed.
 * - `http2_flood` (PING, SETTINGS, CONTINUATION floods), `http2_invalid_frames`
 *   (`maxSessionInvalidFrames`), `http2_protocol_error` (anything else nghttp2 ended the session
 *   for: malformed frames, refused streams over the limit, a window overflow, PRIORITY glitches):
 *   nghttp2 has sent its GOAWAY and Node destroys the session; should it not, it is destroyed a
 *   second later (Node once left such sockets open: reliability-matrix §4.2).
 */
export function guardHttp2Session(session: ServerHttp2Session, guarded: (reason: string) => void): void {
  let closed = 0;
  let premature = 0;
  let cut = false;

  session.on('stream', (stream: ServerHttp2Stream) => {
    const openedAt = performance.now();
    stream.once('close', () => {
      if (cut || session.destroyed) return; // streams ended by the session's own end are not the client's resets
      closed++;
      if (!stream.headersSent && performance.now() - openedAt < PREMATURE_RESET_MIN_STREAM_LIFETIME_MS) premature++;
      if (closed >= PREMATURE_RESET_MIN_STREAMS && 2 * premature > closed) {
        cut = true;
        guarded('http2_premature_reset');
        calmDown(session);
      }
    });
  });

  session.on('error', (error: NodeJS.ErrnoException) => {
    if (cut || !error.code?.startsWith('ERR_HTTP2_')) return; // a socket error is the network's, not abuse
    cut = true;
    guarded(reasonFor(error));
    destroyLater(session);
  });
}

/**
 * GOAWAY(ENHANCE_YOUR_CALM) naming the last stream processed (RFC 9113 §6.8): nghttp2 refuses any
 * stream after it. The socket is destroyed once the GOAWAY has had time to leave.
 */
function calmDown(session: ServerHttp2Session): void {
  if (session.destroyed) return;
  try {
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM, session.state.lastProcStreamID ?? 0);
  } catch {
    return session.destroy(); // already closing: destroying it is all that is left
  }
  destroyLater(session, GOAWAY_FLUSH_MS);
}

function destroyLater(session: ServerHttp2Session, ms = ABUSE_GOAWAY_GRACE_MS): void {
  setTimeout(() => {
    if (!session.destroyed) session.destroy();
  }, ms).unref();
}

function reasonFor(error: NodeJS.ErrnoException): string {
  if (error.code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') return 'http2_invalid_frames';
  if (error.errno === NGHTTP2_ERR_FLOODED || error.errno === NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) return 'http2_flood';
  return 'http2_protocol_error';
}

/** RFC 9113 §6.5.2: a field's size in a header list is its name's and value's octets plus 32. */
const FIELD_OVERHEAD = 32;

/**
 * A request head over `maxBytes` (SETTINGS_MAX_HEADER_LIST_SIZE, the listener's
 * `max_request_headers_kb`) as a refusal (431, counted `http2_headers_too_large`), or undefined.
 * nghttp2 advertises the limit but does not enforce it on what it receives (measured: a 3,000-byte
 * header passed a server advertising 1,024), so the listener does; HTTP/1.1's is llhttp's.
 */
export function headListLimit(maxBytes: number, guarded: (reason: string) => void): (head: IncomingHttpHeaders) => TandemError | undefined {
  return (head) => {
    let bytes = 0;
    for (const name in head) {
      const value = head[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) bytes += name.length + item.length + FIELD_OVERHEAD;
      else bytes += name.length + value.length + FIELD_OVERHEAD;
    }
    if (bytes <= maxBytes) return undefined;
    guarded('http2_headers_too_large');
    return new TandemError(ErrorCode.HeadersTooLarge, `request head of ${bytes} bytes is over max_request_headers_kb (${maxBytes / 1024} KiB)`);
  };
}

function noop(): void {}
