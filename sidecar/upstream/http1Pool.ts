import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ErrorCode, TandemError } from '../core/errors.js';
import { downstreamResponseHeaders, forwardableTrailers } from '../http/headers.js';
import { numberAttempt, propagateTrace } from '../http/attempt.js';
import type { RequestContext } from '../http/context.js';
import type { Headers, ProxyResponse } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';
import { ConnectionSource, type ConnectionPool, type PoolOptions, type PoolStats } from './pool.js';
import { StreamedBody } from './streamedBody.js';
import { connectFailed, connectionLost, protocolError, streamRefused, type Peer } from './upstreamErrors.js';

/** A request held by the pool until the upstream's `max_connections` lets a socket open. */
interface Held {
  readonly request: ProxyRequest;
  readonly context: RequestContext;
  readonly resolve: (response: ProxyResponse) => void;
  readonly reject: (error: TandemError) => void;
  releaseCancel: () => void;
}

/**
 * HTTP/1.1 keep-alive connections to one endpoint, on Node's `http.Agent`: at most `maxConnections`
 * sockets (requests beyond wait in the agent's queue), most recently used socket first (LIFO keeps
 * the fewest sockets warm and the least likely to have been closed by the peer), idle sockets closed
 * after `idleTimeoutMs`. Node also retires a socket a second before the server's advertised
 * `Keep-Alive: timeout=N`.
 *
 * Circuit breaking: a request that would make the agent open a socket while the upstream is at
 * `max_connections` is held here until a socket frees up in this pool or closes anywhere in the
 * upstream; one that would wait for a socket counts as pending. Both waits are bounded by
 * `max_pending_requests`.
 */
export class Http1Pool implements ConnectionPool {
  readonly peer: Peer;
  /** HTTP/1.1 has no going-away signal but the close of one connection, which says nothing of the endpoint. */
  readonly goneAway = false;
  private readonly agent: EndpointAgent;
  private readonly held: Held[] = [];
  private active = 0;
  private closed = false;

  constructor(readonly options: PoolOptions) {
    this.peer = { upstream: options.upstream, endpoint: `${options.address}:${options.port}` };
    this.agent = new EndpointAgent(options, new ConnectionSource(options, this.peer, ['http/1.1']));
    this.agent.on('free', this.releaseHeld);
  }

  dispatch(request: ProxyRequest, context: RequestContext): Promise<ProxyResponse> {
    if (this.closed) return Promise.reject(streamRefused(this.peer, 'endpoint removed'));
    const { limits } = this.options;
    const sockets = this.socketCounts();
    const needsSocket = sockets.free === 0 && sockets.busy < this.options.maxConnections;
    if (this.held.length > 0 || (needsSocket && !limits.tryConnection())) {
      if (!limits.tryPending()) return Promise.reject(limits.overflowError('max_pending_requests'));
      limits.whenConnectionFreed(this.releaseHeld);
      return new Promise((resolve, reject) => {
        const held: Held = { request, context, resolve, reject, releaseCancel: noop };
        held.releaseCancel = context.attemptCancellation.onCancel((reason) => {
          this.held.splice(this.held.indexOf(held), 1);
          limits.releasePending();
          reject(reason);
        });
        this.held.push(held);
      });
    }
    // With no socket free and none allowed to open, the agent queues the request: it is pending.
    const queued = !needsSocket && sockets.free === 0;
    if (queued && !limits.tryPending()) return Promise.reject(limits.overflowError('max_pending_requests'));
    return this.send(request, context, needsSocket, queued);
  }

  /**
   * @param reservedSocket a connection was counted for this request (the agent will open one for it).
   * @param queued the agent will queue it for a socket: pending until it gets one.
   */
  private send(request: ProxyRequest, context: RequestContext, reservedSocket: boolean, queued: boolean): Promise<ProxyResponse> {
    const { address, port, limits } = this.options;
    if (reservedSocket) this.agent.reserved++;
    const headers: OutgoingHttpHeaders = { host: request.authority };
    for (const name in request.headers) headers[name] = request.headers[name];
    numberAttempt(headers, request, context.attempts);
    propagateTrace(headers, context);
    // A body of unknown length must be chunked (RFC 9112 §6). Node only chunks by default for methods
    // other than GET, HEAD, DELETE, OPTIONS, TRACE and CONNECT; written raw on a keep-alive connection,
    // such a body would be read by the upstream as the next request.
    if (!request.body.empty && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
    let upstream: ClientRequest;
    try {
      upstream = httpRequest({ agent: this.agent, host: address, port, method: request.method, path: request.path, headers, setHost: false });
    } catch (error) {
      if (queued) limits.releasePending();
      if (reservedSocket) {
        this.agent.reserved--;
        limits.releaseConnection();
      }
      return Promise.reject(new TandemError(ErrorCode.BadRequest, `request cannot be sent over HTTP/1.1: ${(error as Error).message}`));
    }
    if (queued) {
      let waiting = true;
      const leave = (): void => {
        if (waiting) limits.releasePending();
        waiting = false;
      };
      upstream.once('socket', leave);
      upstream.once('close', leave);
    }
    this.active++;
    return new Promise((resolve, reject) => {
      new Http1Exchange(this, upstream, request, context, resolve, reject);
    });
  }

  stats(): PoolStats {
    return { connections: countSockets(this.agent.sockets) + countSockets(this.agent.freeSockets), activeRequests: this.active };
  }

  close(): void {
    this.closed = true;
    for (const held of this.held.splice(0)) {
      held.releaseCancel();
      this.options.limits.releasePending();
      held.reject(streamRefused(this.peer, 'endpoint removed'));
    }
    for (const sockets of Object.values(this.agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    if (this.active === 0) this.agent.destroy();
  }

  destroy(): void {
    this.closed = true;
    this.agent.destroy();
  }

  /** Sends held requests while a socket is free here or may open under the upstream's limit. */
  private readonly releaseHeld = (): void => {
    const { limits } = this.options;
    while (this.held.length > 0 && !this.closed) {
      const sockets = this.socketCounts();
      const needsSocket = sockets.free === 0;
      if (needsSocket && (sockets.busy >= this.options.maxConnections || !limits.tryConnection())) {
        limits.whenConnectionFreed(this.releaseHeld);
        return;
      }
      const held = this.held.shift() as Held;
      held.releaseCancel();
      limits.releasePending();
      this.send(held.request, held.context, needsSocket, false).then(held.resolve, held.reject);
    }
  };

  /**
   * The agent's sockets, counted per key rather than per socket: this runs on every dispatch. A free
   * socket destroyed but not yet removed is skipped by the agent, which then opens one unreserved;
   * `createConnection` counts that one itself.
   */
  private socketCounts(): { free: number; busy: number } {
    return { free: countSockets(this.agent.freeSockets), busy: countSockets(this.agent.sockets) };
  }

  /** @internal */
  exchangeDone(): void {
    this.active--;
    if (this.closed && this.active === 0) this.agent.destroy();
  }
}

class EndpointAgent extends Agent {
  /** Sockets already counted against the upstream's `max_connections` by the request about to use them. */
  reserved = 0;

  constructor(
    private readonly pool: PoolOptions,
    private readonly connections: ConnectionSource,
  ) {
    super({
      keepAlive: true,
      maxSockets: pool.maxConnections,
      maxFreeSockets: pool.maxConnections,
      timeout: pool.idleTimeoutMs,
      scheduling: 'lifo',
    });
  }

  /** A socket past its certificates' validity is not reused: the next request gets a new connection. */
  override keepSocketAlive(socket: Socket): boolean {
    const lifetime = this.connections.remainingLifetime(socket);
    if (lifetime !== undefined && lifetime <= 0) return false;
    // Node's types say void, but it returns whether to keep the socket (false after a short Keep-Alive hint).
    return (super.keepSocketAlive(socket) as unknown as boolean | undefined) !== false;
  }

  override createConnection(): Duplex {
    const { pool } = this;
    // Counted in advance by the pool's dispatch; a socket Node opens on its own (to serve its queue
    // after one closed) is counted here, even past the limit, rather than stall a queued request.
    if (this.reserved > 0) this.reserved--;
    else pool.limits.connections++;
    const socket = this.connections.open();
    socket.once('close', () => pool.limits.releaseConnection());
    return socket;
  }
}

/** One request/response on a pooled socket. */
class Http1Exchange {
  private connected = false;
  private responded = false;
  private done = false;
  private cancelledBy: TandemError | undefined;
  private readonly releaseCancel: () => void;

  constructor(
    private readonly pool: Http1Pool,
    private readonly upstream: ClientRequest,
    private readonly request: ProxyRequest,
    context: RequestContext,
    private readonly resolve: (response: ProxyResponse) => void,
    private readonly reject: (error: TandemError) => void,
  ) {
    upstream.on('socket', (socket) => {
      if (!socket.connecting) this.connected = true;
      // A TLS connection is made once its handshake is: a refused certificate is a failed connect.
      else socket.once((socket as TLSSocket).encrypted === true ? 'secureConnect' : 'connect', () => (this.connected = true));
    });
    upstream.on('response', this.onResponse);
    upstream.on('error', this.onError);
    upstream.on('close', () => {
      if (!this.responded) this.finish();
    });
    this.releaseCancel = context.attemptCancellation.onCancel((reason) => {
      this.cancelledBy = reason;
      upstream.destroy();
    });
    if (request.body.empty) upstream.end();
    else request.body.sendTo(upstream);
  }

  private readonly onResponse = (response: IncomingMessage): void => {
    this.responded = true;
    const upstream = this.upstream;
    const status = response.statusCode ?? 502;
    const body = new StreamedBody(response, () => upstream.destroy(), () => {
      this.releaseCancel();
      this.finish();
    });
    response.on('end', () => body.complete(trailersOf(response)));
    response.on('error', noop); // reported through 'close' below
    response.on('close', () => {
      if (!response.complete) body.fail(this.cancelledBy ?? connectionLost(this.pool.peer, 'connection closed mid-body'));
    });
    this.resolve({
      status,
      headers: downstreamResponseHeaders(response.headers),
      endStream:
        this.request.method === 'HEAD' || status === 204 || status === 304 || response.headers['content-length'] === '0',
      body,
    });
  };

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    if (this.responded) return; // the response body reports it
    this.releaseCancel();
    this.request.body.detach();
    this.finish();
    const peer = this.pool.peer;
    if (this.cancelledBy !== undefined) this.reject(this.cancelledBy);
    else if (!this.connected) this.reject(connectFailed(peer, error));
    else if (error.code?.startsWith('HPE_') === true) this.reject(protocolError(peer, `sent an invalid HTTP/1.1 response (${error.code})`));
    else this.reject(connectionLost(peer, error, this.upstream.reusedSocket));
  };

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.pool.exchangeDone();
  }
}

function trailersOf(response: IncomingMessage): Headers | undefined {
  return response.rawTrailers.length === 0 ? undefined : forwardableTrailers(response.trailers);
}

function countSockets(sockets: NodeJS.ReadOnlyDict<unknown[]>): number {
  let count = 0;
  for (const key in sockets) count += sockets[key]?.length ?? 0;
  return count;
}

function noop(): void {}
