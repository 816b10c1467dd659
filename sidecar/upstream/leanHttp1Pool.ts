import { maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode, TandemError } from '../core/errors.js';
import { numberAttempt, propagateTrace } from '../http/attempt.js';
import type { RequestContext } from '../http/context.js';
import { downstreamResponseHeaders, forwardableTrailers } from '../http/headers.js';
import type { Headers, ProxyResponse } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';
import { ClientConnection, type ClientConnectionOptions, type ClientExchange, type ConnectionEvents } from '../http1/clientConnection.js';
import { Http1ParseError } from '../http1/fields.js';
import { serializeRequestHead } from '../http1/requestHead.js';
import type { ResponseHead } from '../http1/responseHead.js';
import { ConnectionSource, type ConnectionPool, type PoolOptions, type PoolStats } from './pool.js';
import { PushedBody, type BodySource } from './pushedBody.js';
import { connectFailed, connectionLost, protocolError, streamRefused, type Peer } from './upstreamErrors.js';

/** Fields Node's client keeps of a response head (`maxHeadersCount`); the rest are read and dropped. */
const MAX_RESPONSE_FIELDS = 2000;

/** A request waiting for a connection: none idle here and none may open (this endpoint's or the upstream's `max_connections`). */
interface Waiting {
  readonly request: ProxyRequest;
  readonly context: RequestContext;
  readonly resolve: (response: ProxyResponse) => void;
  readonly reject: (error: TandemError) => void;
  releaseCancel: () => void;
}

/**
 * HTTP/1.1 keep-alive connections to one endpoint on the lean engine (`sidecar/http1/`) instead of
 * Node's `http.Agent` and `ClientRequest`: the same contract as `Http1Pool` — at most
 * `maxConnections` connections, the most recently used idle one first (LIFO), idle ones closed after
 * `idleTimeoutMs` or a second before the server's `Keep-Alive: timeout`, a connection past its
 * certificates' validity not reused — and the same circuit breaking: a request that needs a new
 * connection while the upstream is at `max_connections`, or finds this endpoint's all busy, waits
 * (counted pending, bounded by `max_pending_requests`) for one to free up.
 */
export class LeanHttp1Pool implements ConnectionPool, ConnectionEvents {
  readonly peer: Peer;
  readonly goneAway = false;
  private readonly source: ConnectionSource;
  private readonly connectionOptions: ClientConnectionOptions;
  private readonly connections = new Set<ClientConnection>();
  /** Idle connections, most recently used last. */
  private readonly idleConnections: ClientConnection[] = [];
  private readonly waiting: Waiting[] = [];
  private active = 0;
  private closed = false;

  constructor(readonly options: PoolOptions) {
    this.peer = { upstream: options.upstream, endpoint: `${options.address}:${options.port}` };
    this.source = new ConnectionSource(options, this.peer, ['http/1.1']);
    this.connectionOptions = { idleTimeoutMs: options.idleTimeoutMs, maxHeadBytes: maxHeaderSize, maxFields: MAX_RESPONSE_FIELDS };
  }

  dispatch(request: ProxyRequest, context: RequestContext): Promise<ProxyResponse> {
    if (this.closed) return Promise.reject(streamRefused(this.peer, 'endpoint removed'));
    if (this.waiting.length === 0) {
      const idle = this.idleConnections.pop();
      if (idle !== undefined) return this.send(idle, request, context);
      if (this.connections.size < this.options.maxConnections && this.options.limits.tryConnection()) return this.send(this.open(), request, context);
    }
    const { limits } = this.options;
    if (!limits.tryPending()) return Promise.reject(limits.overflowError('max_pending_requests'));
    if (this.connections.size < this.options.maxConnections) limits.whenConnectionFreed(this.serveWaiting);
    return new Promise((resolve, reject) => {
      const waiting: Waiting = { request, context, resolve, reject, releaseCancel: noop };
      waiting.releaseCancel = context.attemptCancellation.onCancel((reason) => {
        this.waiting.splice(this.waiting.indexOf(waiting), 1);
        limits.releasePending();
        reject(reason);
      });
      this.waiting.push(waiting);
    });
  }

  stats(): PoolStats {
    return { connections: this.connections.size, activeRequests: this.active };
  }

  close(): void {
    this.closed = true;
    this.refuseWaiting();
    for (const connection of this.idleConnections.splice(0)) connection.destroy();
  }

  destroy(): void {
    this.closed = true;
    this.refuseWaiting();
    this.idleConnections.length = 0;
    for (const connection of this.connections) connection.destroy();
  }

  /** ConnectionEvents: a connection finished its exchange; a waiting request takes it, else it idles. */
  idle(connection: ClientConnection): void {
    if (this.closed) {
      connection.destroy();
      return;
    }
    const next = this.takeWaiting();
    if (next !== undefined) this.send(connection, next.request, next.context).then(next.resolve, next.reject);
    else this.idleConnections.push(connection);
  }

  /** ConnectionEvents: a connection closed; its place may go to a waiting request. */
  connectionClosed(connection: ClientConnection): void {
    this.connections.delete(connection);
    const at = this.idleConnections.indexOf(connection);
    if (at >= 0) this.idleConnections.splice(at, 1);
    this.options.limits.releaseConnection();
    this.serveWaiting();
  }

  mayReuse(socket: Socket): boolean {
    const lifetime = this.source.remainingLifetime(socket);
    return lifetime === undefined || lifetime > 0;
  }

  /** @internal an exchange ended either way. */
  exchangeDone(): void {
    this.active--;
  }

  /** Sends waiting requests while this endpoint and the upstream let connections open. */
  private readonly serveWaiting = (): void => {
    const { limits } = this.options;
    while (this.waiting.length > 0 && !this.closed) {
      const idle = this.idleConnections.pop();
      let connection: ClientConnection;
      if (idle !== undefined) connection = idle;
      else if (this.connections.size >= this.options.maxConnections) return; // one of ours will free up
      else if (!limits.tryConnection()) {
        limits.whenConnectionFreed(this.serveWaiting);
        return;
      } else connection = this.open();
      const next = this.takeWaiting() as Waiting;
      this.send(connection, next.request, next.context).then(next.resolve, next.reject);
    }
  };

  private takeWaiting(): Waiting | undefined {
    const next = this.waiting.shift();
    if (next === undefined) return undefined;
    next.releaseCancel();
    this.options.limits.releasePending();
    return next;
  }

  private refuseWaiting(): void {
    for (const waiting of this.waiting.splice(0)) {
      waiting.releaseCancel();
      this.options.limits.releasePending();
      waiting.reject(streamRefused(this.peer, 'endpoint removed'));
    }
  }

  /** A new connection, already counted against the upstream's `max_connections`. */
  private open(): ClientConnection {
    const connection = new ClientConnection(this.source.open(), this.connectionOptions, this);
    this.connections.add(connection);
    return connection;
  }

  private send(connection: ClientConnection, request: ProxyRequest, context: RequestContext): Promise<ProxyResponse> {
    const headers: Headers = { host: request.authority };
    for (const name in request.headers) headers[name] = request.headers[name];
    numberAttempt(headers, request, context.attempts);
    propagateTrace(headers, context);
    const hasBody = !request.body.empty;
    // A body of unknown length must be chunked (RFC 9112 §6); written raw on a keep-alive connection,
    // it would be read by the upstream as the next request.
    const chunked = hasBody && headers['content-length'] === undefined;
    if (chunked) headers['transfer-encoding'] = 'chunked';
    let head: string;
    try {
      head = serializeRequestHead(request.method, request.path, headers, hasBody);
    } catch (error) {
      this.idle(connection);
      return Promise.reject(new TandemError(ErrorCode.BadRequest, `request cannot be sent over HTTP/1.1: ${(error as Error).message}`));
    }
    this.active++;
    return new Promise((resolve, reject) => {
      const exchange = new LeanExchange(this, connection, request, context, resolve, reject);
      const target = connection.send(exchange, request.method, head, chunked, hasBody);
      if (hasBody) request.body.sendTo(target);
    });
  }
}

/** One request/response on a pooled connection; the source of its response's body. */
class LeanExchange implements ClientExchange, BodySource {
  private body: PushedBody | undefined;
  private done = false;
  private cancelledBy: TandemError | undefined;
  private readonly releaseCancel: () => void;
  private readonly reused: boolean;

  constructor(
    private readonly pool: LeanHttp1Pool,
    private readonly connection: ClientConnection,
    private readonly request: ProxyRequest,
    context: RequestContext,
    private readonly resolve: (response: ProxyResponse) => void,
    private readonly reject: (error: TandemError) => void,
  ) {
    this.reused = connection.requests > 0;
    this.releaseCancel = context.attemptCancellation.onCancel((reason) => {
      this.cancelledBy = reason;
      connection.destroy();
    });
  }

  head(head: ResponseHead): void {
    const body = new PushedBody(this);
    this.body = body;
    const { status, headers } = head;
    this.resolve({
      status,
      headers: downstreamResponseHeaders(headers),
      endStream: this.request.method === 'HEAD' || status === 204 || status === 304 || headers['content-length'] === '0',
      body,
    });
  }

  data(chunk: Buffer): void {
    this.body?.push(chunk);
  }

  end(trailers: Headers | undefined): void {
    this.body?.complete(trailers === undefined ? undefined : forwardableTrailers(trailers));
  }

  fail(error: Error): void {
    const body = this.body;
    if (body !== undefined) {
      body.fail(this.cancelledBy ?? connectionLost(this.pool.peer, 'connection closed mid-body'));
      return;
    }
    this.releaseCancel();
    this.request.body.detach();
    this.finish();
    const peer = this.pool.peer;
    if (this.cancelledBy !== undefined) this.reject(this.cancelledBy);
    else if (!this.connection.connected) this.reject(connectFailed(peer, error));
    else if (error instanceof Http1ParseError) this.reject(protocolError(peer, `sent an invalid HTTP/1.1 response (${error.code})`));
    else this.reject(connectionLost(peer, error, this.reused));
  }

  resumeBody(): void {
    this.connection.resumeBody();
  }

  pauseBody(): void {
    this.connection.pauseBody();
  }

  resetUpstream(): void {
    this.connection.destroy();
  }

  bodyDone(): void {
    this.releaseCancel();
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.pool.exchangeDone();
  }
}

function noop(): void {}
