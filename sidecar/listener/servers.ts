import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../http/http2Settings.js';
import { deferredDispatch, HTTP2_FLOOD_LIMITS } from './http2Guards.js';
import type { ListenerLimits } from './limits.js';

/**
 * Downstream HTTP servers with Tandem's limits in place of Node's defaults, which are not safe for a
 * proxy (unbounded HTTP/2 streams, 60 s header timeout checked every 30 s, 2000 headers).
 * Values follow Envoy's where Envoy has one (see docs/architecture.md).
 */

/**
 * How often HTTP/1.1 connections are checked for a request head that is taking too long: a slow client
 * is closed at most this long after its `request_headers_timeout`.
 */
export const HEAD_TIMEOUT_CHECK_MS = 250;

/** The per-connection time limits of a listener (its `request_headers_timeout` and `idle_timeout`). */
export interface ConnectionTimeouts {
  /** Time a client has to send a complete request head, from its first byte (slow-loris guard); 0 is off. */
  readonly requestHeadersTimeoutMs: number;
  /** A connection with no request in flight for this long is closed; 0 is off. */
  readonly idleTimeoutMs: number;
}

/**
 * An HTTP/1.1 server that only parses: the listener feeds it connections its acceptor established.
 * Node checks head timeouts and tracks idle connections only for a server that has emitted
 * 'listening' — which a server fed this way never does by itself — so the server is told it listens.
 */
export function http1Server(onRequest: (req: IncomingMessage, res: ServerResponse) => void, timeouts: ConnectionTimeouts, limits: ListenerLimits): Http1Server {
  const server = createHttp1Server(
    {
      maxHeaderSize: limits.maxRequestHeaderBytes,
      // Node refuses a head timeout longer than the request timeout; the head is part of the request,
      // so the shorter one bounds it anyway.
      headersTimeout: limits.requestTimeoutMs > 0 ? Math.min(timeouts.requestHeadersTimeoutMs || Infinity, limits.requestTimeoutMs) : timeouts.requestHeadersTimeoutMs,
      // request_timeout: the whole request, body included (slow-body guard); 0 lets uploads and long
      // polls last (Envoy's default). Checked with the head timeout, every HEAD_TIMEOUT_CHECK_MS.
      requestTimeout: limits.requestTimeoutMs,
      // An idle keep-alive connection closes at idle_timeout, the value it advertises (Keep-Alive:
      // timeout=N). Node would otherwise wait a further keepAliveTimeoutBuffer (1 s); clients that honour
      // the hint (Node's agent, browsers) stop reusing a connection before it, which is that buffer's aim.
      keepAliveTimeout: timeouts.idleTimeoutMs,
      keepAliveTimeoutBuffer: 0,
      connectionsCheckingInterval: HEAD_TIMEOUT_CHECK_MS,
      requireHostHeader: false, // checked by Http1Guards, which counts what it refuses
    },
    onRequest,
  );
  // One field more than the limit is kept, so that Http1Guards sees a head over it (Node drops the rest silently).
  server.maxHeadersCount = limits.maxHeadersCount + 1;
  server.emit('listening');
  return server;
}

export function http2Server(onStream: (stream: ServerHttp2Stream, head: IncomingHttpHeaders, flags: number) => void, limits: ListenerLimits): Http2Server {
  const server = createHttp2Server({
    settings: {
      // Node's default is 2^32-1.
      maxConcurrentStreams: limits.maxConcurrentStreams,
      initialWindowSize: STREAM_WINDOW_BYTES,
      maxHeaderListSize: limits.maxRequestHeaderBytes,
      enablePush: false,
    },
    // Beside the four pseudo-header fields of a request; more resets the stream (ENHANCE_YOUR_CALM), as Envoy does on HTTP/2.
    maxHeaderListPairs: limits.maxHeadersCount + 4,
    ...HTTP2_FLOOD_LIMITS,
  });
  server.on('session', (session) => {
    session.on('error', () => undefined); // the session closes itself; one connection's fault stays there
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES); // the socket is already connected here
  });
  server.on('stream', deferredDispatch(onStream));
  return server;
}
