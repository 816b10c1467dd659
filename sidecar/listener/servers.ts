import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../http/http2Settings.js';

/**
 * Downstream HTTP servers with Tandem's limits in place of Node's defaults, which are not safe for a
 * proxy (unbounded HTTP/2 streams, 60 s header timeout checked every 30 s, 2000 headers).
 * Values follow Envoy's where Envoy has one (see docs/architecture.md).
 */

/** Request head size limit for both protocols (Envoy `max_request_headers_kb` 60). */
export const MAX_HEADER_BYTES = 60 * 1024;
/** Header count limit (Envoy `max_headers_count` 100). */
export const MAX_HEADERS = 100;
/** Time a client has to send a complete request head (slow-loris guard). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** Idle keep-alive time; longer than common client pool idle times so the client closes first. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Concurrent streams a client may open on one HTTP/2 connection (Node's default is 2^32-1). */
export const MAX_CONCURRENT_STREAMS = 1024;

export function http1Server(onRequest: (req: IncomingMessage, res: ServerResponse) => void): Http1Server {
  const server = createHttp1Server(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: HEADERS_TIMEOUT_MS,
      // No limit on a whole request: uploads and long polls may legitimately last (Envoy's default too).
      requestTimeout: 0,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: 1_000,
    },
    onRequest,
  );
  server.maxHeadersCount = MAX_HEADERS;
  return server;
}

export function http2Server(onStream: (stream: ServerHttp2Stream, head: IncomingHttpHeaders, flags: number) => void): Http2Server {
  const server = createHttp2Server({
    settings: {
      maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
      initialWindowSize: STREAM_WINDOW_BYTES,
      maxHeaderListSize: MAX_HEADER_BYTES,
      enablePush: false,
    },
    maxHeaderListPairs: MAX_HEADERS,
  });
  server.on('session', (session) => {
    session.on('error', () => undefined); // the session closes itself; one connection's fault stays there
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES); // the socket is already connected here
  });
  server.on('stream', onStream);
  return server;
}
