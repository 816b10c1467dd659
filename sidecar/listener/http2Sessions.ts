import type { ServerHttp2Session } from 'node:http2';
import type { ConnectionTimeouts } from './servers.js';

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
 *   looked at every half timeout; a head pending through a whole timeout ends the connection (so it
 *   goes between one and one and a half timeouts after it began).
 *
 * One timer per connection, and only while it has no open stream.
 */
export function guardSession(session: ServerHttp2Session, timeouts: ConnectionTimeouts): void {
  const { requestHeadersTimeoutMs: headMs, idleTimeoutMs: idleMs } = timeouts;
  const stepMs = headMs > 0 ? headMs / 2 : Infinity;
  let open = 0;
  let lastOpened = 0;
  let idleSince = performance.now();
  let headPendingSince: number | undefined;
  let timer: NodeJS.Timeout | undefined;

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

  const check = (): void => {
    timer = undefined;
    if (session.closed || session.destroyed) return;
    const now = performance.now();
    if (headMs > 0 && (session.state.lastProcStreamID ?? 0) > lastOpened) {
      headPendingSince ??= now;
      if (now - headPendingSince >= headMs) {
        session.destroy(); // a GOAWAY, then the socket: the client never finished its request head
        return;
      }
    }
    if (idleMs > 0 && now - idleSince >= idleMs) {
      session.close();
      setTimeout(() => session.destroy(), GOAWAY_GRACE_MS).unref();
      return;
    }
    schedule();
  };

  session.on('stream', (stream) => {
    open++;
    if (stream.id !== undefined && stream.id > lastOpened) lastOpened = stream.id;
    headPendingSince = undefined;
    clearTimeout(timer);
    timer = undefined;
    stream.once('close', () => {
      if (--open > 0) return;
      idleSince = performance.now();
      schedule();
    });
  });
  session.once('close', () => clearTimeout(timer));
  schedule();
}
