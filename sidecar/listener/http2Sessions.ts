import { constants, type ServerHttp2Session } from 'node:http2';
import type { ConnectionTimeouts } from './servers.js';

const { NGHTTP2_NO_ERROR } = constants;

/** A connection told to go away (idle) that keeps its socket open this long is dropped. */
const GOAWAY_GRACE_MS = 1_000;

/**
 * The per-connection time limits of an HTTP/2 connection, while it has no open stream:
 *
 * - `idle_timeout` (Envoy's): no stream for that long, and the connection gets GOAWAY, then is dropped
 *   if the client has not closed it a second later. One that completed its preface and then sent
 *   nothing is idle from the start. Open streams are bounded by `stream_idle_timeout` instead.
 * - `request_headers_timeout`: nghttp2 holds a header block until it is complete, and Node opens a
 *   stream only then, so a client that starts a HEADERS frame and never finishes it looks idle. Its
 *   mark is nghttp2's last processed stream id running ahead of the streams opened. The session is
 *   looked at every half timeout; a head seen pending is given one whole timeout more, and if no
 *   stream has opened by then the connection ends (so it goes between one and one and a half timeouts
 *   after the head began).
 *
 * At most two timers per connection, and only while it has no open stream.
 */
export function guardSession(session: ServerHttp2Session, timeouts: ConnectionTimeouts): void {
  const { requestHeadersTimeoutMs: headMs, idleTimeoutMs: idleMs } = timeouts;
  const stepMs = headMs > 0 ? headMs / 2 : Infinity;
  let open = 0;
  let lastOpened = 0;
  let idleSince = performance.now();
  let timer: NodeJS.Timeout | undefined;
  /** Armed when a request head is seen pending; a stream opening disarms it. */
  let headTimer: NodeJS.Timeout | undefined;

  const schedule = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (open > 0 || session.closed || session.destroyed) return;
    const untilIdle = idleMs > 0 ? idleSince + idleMs - performance.now() : Infinity;
    const delay = Math.min(stepMs, untilIdle);
    if (delay === Infinity) return;
    timer = setTimeout(check, Math.max(0, delay));
    timer.unref();
  };

  const headPending = (): boolean => headMs > 0 && (session.state.lastProcStreamID ?? 0) > lastOpened;

  const check = (): void => {
    timer = undefined;
    if (session.closed || session.destroyed) return;
    if (headTimer === undefined && headPending()) {
      headTimer = setTimeout(() => {
        // A GOAWAY, then the socket: the client never finished its request head.
        if (headPending() && !session.destroyed) session.destroy();
      }, headMs);
      headTimer.unref();
    }
    if (idleMs > 0 && performance.now() - idleSince >= idleMs) {
      session.close();
      setTimeout(() => session.destroy(), GOAWAY_GRACE_MS).unref();
      return;
    }
    schedule();
  };

  session.on('stream', (stream) => {
    open++;
    if (stream.id !== undefined && stream.id > lastOpened) lastOpened = stream.id;
    clearTimeout(headTimer);
    headTimer = undefined;
    clearTimeout(timer);
    timer = undefined;
    stream.once('close', () => {
      if (--open > 0) return;
      idleSince = performance.now();
      schedule();
    });
  });
  session.once('close', () => {
    clearTimeout(timer);
    clearTimeout(headTimer);
  });
  schedule();
}

/** RFC 9113 §6.8: the largest stream id, "every stream you may have sent". */
const ANY_STREAM = 2 ** 31 - 1;
/** The final GOAWAY waits this long at most for the PING's answer. */
const GOAWAY_PING_TIMEOUT_MS = 1_000;

/**
 * A graceful shutdown of an HTTP/2 connection in two phases (RFC 9113 §6.8): a GOAWAY with the
 * largest stream id tells the client to open no more streams while accepting any it has already
 * sent, and a PING follows; once the PING is answered (or after a second) every stream the client
 * sent before it has arrived, and the final GOAWAY names the last one processed. Open streams then
 * finish; Node closes the session after them. Resolves once the final GOAWAY is sent.
 *
 * nghttp2 stops reading a session that has sent GOAWAY and has no open stream, so an idle
 * connection never reads the PING's answer: it gets its final GOAWAY after the second.
 */
export function goAwayGracefully(session: ServerHttp2Session): Promise<void> {
  if (session.closed || session.destroyed) return Promise.resolve();
  session.goaway(NGHTTP2_NO_ERROR, ANY_STREAM);
  return new Promise((resolve) => {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (!session.closed && !session.destroyed) session.close();
      resolve();
    };
    const timer = setTimeout(finish, GOAWAY_PING_TIMEOUT_MS);
    timer.unref();
    // nghttp2 sends a PING ahead of anything queued before it: submitted in a later turn, it follows
    // the GOAWAY on the wire, as the client must see them.
    setImmediate(() => {
      if (session.closed || session.destroyed) return finish();
      try {
        if (!session.ping(finish)) finish(); // too many PINGs outstanding: the timer would only add delay
      } catch {
        finish();
      }
    });
  });
}
