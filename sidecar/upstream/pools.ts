import type { Protocol } from '../config/fields.js';
import { createHttp1Pool } from './createHttp1Pool.js';
import { Http2Pool } from './http2Pool.js';
import { NegotiatingPool } from './negotiatingPool.js';
import type { ConnectionPool, PoolOptions } from './pool.js';

/**
 * The pool for an endpoint. gRPC and HTTP/2 upstreams always get multiplexed HTTP/2 sessions. An
 * HTTP/1.1 upstream gets keep-alive sockets — unless its connector negotiates (TLS with ALPN): then
 * the endpoint is offered h2 as well, and the pool follows what its first connection negotiated, so
 * two Tandems carry an HTTP/1.1 app's requests multiplexed over one HTTP/2 connection.
 */
export function createPool(protocol: Protocol, options: PoolOptions): ConnectionPool {
  if (protocol !== 'http1') return new Http2Pool(options);
  const negotiate = options.connector.negotiate;
  return negotiate === undefined ? createHttp1Pool(options) : new NegotiatingPool(options, negotiate);
}
