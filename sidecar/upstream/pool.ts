import type { RequestContext } from '../http/context.js';
import type { ProxyResponse } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';
import type { ResourceLimits } from '../limits/resourceLimits.js';
import type { Socket } from 'node:net';
import type { AlpnProtocol, Connector } from './connector.js';
import type { Peer } from './upstreamErrors.js';
import type { ConnectionMetrics } from '../observe/endpointMetrics.js';

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
  /**
   * The endpoint said it is going away (an HTTP/2 GOAWAY on the pool's last open connection) and no
   * new connection to it has been made since: it should get no new requests meanwhile. The pool tries
   * to connect again at once (a peer rotating its connections answers) and tells
   * `PoolOptions.onGoneAwayChange` when this changes.
   */
  readonly goneAway: boolean;
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
  /** Asked for with TLS SNI: the upstream's service name. */
  readonly serverName: string;
  /** The SPIFFE ID the endpoint must prove, when discovery names one. */
  readonly expectedIdentity: string | undefined;
  /** An established connection the pool takes as its first, instead of opening one (after negotiation). */
  readonly adopt?: Socket | undefined;
  /** HTTP/1.1 sockets or HTTP/2 sessions per endpoint. */
  readonly maxConnections: number;
  /** Cap on streams per HTTP/2 session; the peer's SETTINGS_MAX_CONCURRENT_STREAMS may lower it. */
  readonly maxConcurrentStreams: number;
  readonly idleTimeoutMs: number;
  /** HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE announced to the peer (`pool.initial_stream_window_size`); STREAM_WINDOW_BYTES unless given. */
  readonly initialStreamWindowBytes?: number;
  /**
   * The upstream's circuit-breaker counts, shared by the pools of all its endpoints: a pool opens a
   * connection only under `max_connections` (else the request waits), and a request waits for a
   * connection or stream slot only under `max_pending_requests` (else TANDEM_OVERFLOW).
   */
  readonly limits: ResourceLimits;
  /** Called when `ConnectionPool.goneAway` changes. */
  readonly onGoneAwayChange?: (() => void) | undefined;
  /** Where the connections it opens are counted. */
  readonly connectionMetrics?: ConnectionMetrics | undefined;
}

/** Opens a pool's connections to its endpoint: the adopted one first (`PoolOptions.adopt`), then new ones. */
export class ConnectionSource {
  private adopted: Socket | undefined;

  /** @param alpnProtocols what the pool speaks, to offer with ALPN. */
  constructor(
    private readonly options: PoolOptions,
    private readonly peer: Peer,
    private readonly alpnProtocols: readonly AlpnProtocol[],
  ) {
    this.adopted = options.adopt;
  }

  /** How much longer `socket` may take new requests (its certificates' validity), if its connector limits it. */
  remainingLifetime(socket: Socket): number | undefined {
    return this.options.connector.remainingLifetime?.(socket);
  }

  open(): Socket {
    const adopted = this.adopted;
    if (adopted !== undefined) {
      this.adopted = undefined;
      return this.counted(adopted, true);
    }
    const { options } = this;
    return this.counted(options.connector.connect({
      ...this.peer,
      address: options.address,
      port: options.port,
      timeoutMs: options.connectTimeoutMs,
      serverName: options.serverName,
      alpnProtocols: this.alpnProtocols,
      expectedIdentity: options.expectedIdentity,
    }), false);
  }

  /** Counts `socket` as opened now, and as closed (a connect failure, if it never connected) when it closes. */
  private counted(socket: Socket, connected: boolean): Socket {
    const metrics = this.options.connectionMetrics;
    if (metrics === undefined) return socket;
    metrics.opened();
    let established = connected;
    if (!established) socket.once((socket as Socket & { encrypted?: boolean }).encrypted === true ? 'secureConnect' : 'connect', () => (established = true));
    socket.once('close', () => metrics.closed(established));
    return socket;
  }
}
