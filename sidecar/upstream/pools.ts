import type { Protocol } from '../config/fields.js';
import { Http1Pool } from './http1Pool.js';
import { Http2Pool } from './http2Pool.js';
import type { ConnectionPool, PoolOptions } from './pool.js';

/** The pool for a protocol: HTTP/1.1 keep-alive sockets, or multiplexed HTTP/2 sessions for h2c and gRPC. */
export function createPool(protocol: Protocol, options: PoolOptions): ConnectionPool {
  return protocol === 'http1' ? new Http1Pool(options) : new Http2Pool(options);
}
