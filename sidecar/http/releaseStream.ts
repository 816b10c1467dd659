import type { Http2Stream } from 'node:http2';

/**
 * Lets go of everything Tandem hung on an HTTP/2 stream (as listeners: the request's context, its
 * body, the upstream exchange…) once the stream has closed.
 *
 * Node keeps a stream's JavaScript object reachable from its native half until V8 collects the old
 * generation, so young-generation collections cannot free it: whatever its listeners reach is copied
 * to the old generation with it and freed only by the next full collection. Measured at 250 req/s of
 * h2c through a gateway: 2 MB promoted per scavenge, scavenges of 14–28 ms and a full collection every
 * few seconds, against 0.5 MB and 2–5 ms once the listeners are removed (as for a bare Node server,
 * which hangs next to nothing on its streams).
 *
 * Removal waits a turn after 'close', so every close listener has run. An 'error' listener stays: a
 * stream with none would throw a late error instead of dropping it.
 */
export function releaseWhenClosed(stream: Http2Stream): void {
  stream.once('close', () =>
    setImmediate(() => {
      stream.removeAllListeners();
      stream.on('error', ignore);
    }),
  );
}

function ignore(): void {}
