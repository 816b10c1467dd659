import type { RequestContext } from '../http/context.js';
import type { ProxyResponse } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';
import type { ResourceLimits } from '../limits/resourceLimits.js';
import type { Connector } from './connector.js';

/**
 * Connections to one endpoint. Only the endpoint layer calls a pool; neither balancers nor codecs
 * open sockets.
 */
export interface ConnectionPool {
  /**
   * Sends one attempt of `request`, numbered by `context.attempts` and ended by
   * `context.attemptCancellation`. Resolves with the response head once it arrives; rejects with a
   * TandemError when no head arrives (connect failure, refused or reset stream, cancellation).
   */
  dispatch(request: ProxyRequest, context: RequestContext): Promise<ProxyResponse>;
  stats(): PoolStats;
  /** Takes no new requests and closes each connection once its requests finish. */
  close(): void;
  /** Closes every connection now, failing what is in flight. */
  destroy(): void;
}

export interface PoolStats {
  /** Open (or opening) connections. */
  readonly connections: number;
  /** Requests in flight on them. */
  readonly activeRequests: number;
}

export interface PoolOptions {
  readonly upstream: string;
  readonly address: string;
  readonly port: number;
  readonly connector: Connector;
  readonly connectTimeoutMs: number;
  /** HTTP/1.1 sockets or HTTP/2 sessions per endpoint. */
  readonly maxConnections: number;
  /** Cap on streams per HTTP/2 session; the peer's SETTINGS_MAX_CONCURRENT_STREAMS may lower it. */
  readonly maxConcurrentStreams: number;
  readonly idleTimeoutMs: number;
  /**
   * The upstream's circuit-breaker counts, shared by the pools of all its endpoints: a pool opens a
   * connection only under `max_connections` (else the request waits), and a request waits for a
   * connection or stream slot only under `max_pending_requests` (else TANDEM_OVERFLOW).
   */
  readonly limits: ResourceLimits;
}
