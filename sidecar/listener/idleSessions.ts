import type { ServerHttp2Session } from 'node:http2';

/**
 * Closes an HTTP/2 connection that has had no open stream for `idleTimeoutMs` (Envoy's `idle_timeout`):
 * a GOAWAY, then the socket. A connection whose client completed the preface and then sent nothing is
 * idle from the start. Streams themselves are bounded by `stream_idle_timeout`, not by this; 0 turns
 * it off.
 */
export function closeWhenIdle(session: ServerHttp2Session, idleTimeoutMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  if (idleTimeoutMs === 0) return; // off
  const arm = (): void => {
    timer = setTimeout(() => session.close(), idleTimeoutMs);
    timer.unref();
  };
  session.on('stream', (stream) => {
    open++;
    clearTimeout(timer);
    stream.once('close', () => {
      if (--open === 0 && !session.closed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
  arm();
}
