import { HTTP1_ENGINE } from '../http1/engine.js';
import { Http1Pool } from './http1Pool.js';
import { LeanHttp1Pool } from './leanHttp1Pool.js';
import type { ConnectionPool, PoolOptions } from './pool.js';

/** An HTTP/1.1 pool on the engine `TANDEM_HTTP1_ENGINE` chose: Node's `http.Agent` unless `lean`. */
export function createHttp1Pool(options: PoolOptions): ConnectionPool {
  return HTTP1_ENGINE === 'lean' ? new LeanHttp1Pool(options) : new Http1Pool(options);
}
