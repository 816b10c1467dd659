import {
  connect as http2Connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
  type Settings,
} from 'node:http2';
import type { Socket } from 'node:net';
import { ErrorCode, TandemError } from '../core/errors.js';
import { encodeGrpcTimeout } from '../http/grpc.js';
import { downstreamResponseHeaders, forwardableTrailers } from '../http/headers.js';
import { CONNECTION_WINDOW_BYTES, END_STREAM_FLAG, STREAM_WINDOW_BYTES } from '../http/http2Settings.js';
import { numberAttempt, propagateTrace } from '../http/attempt.js';
import type { RequestContext } from '../http/context.js';
import type { Headers, ProxyResponse } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';
import { ConnectionSource, type ConnectionPool, type PoolOptions, type PoolStats } from './pool.js';
import { releaseWhenClosed } from '../http/releaseStream.js';
import { PushedBody, type BodySource } from './pushedBody.js';
import {
  connectFailed,
  connectionLost,
  protocolError,
  streamRefused,
  streamReset,
  type Peer,
} from './upstreamErrors.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = constants;

/** What nghttp2 assumes the peer allows until its SETTINGS arrive (Node's `peerMaxConcurrentStreams`). */
const ASSUMED_PEER_MAX_STREAMS = 100;

/** Client stream ids are odd 31-bit numbers and never reused: retire a session well before they run out. */
const MAX_STREAMS_PER_SESSION = 2 ** 30 - 1_000;

/**
 * A session with nothing left to do is closed gracefully (GOAWAY); Node then waits for the peer to
 * close the TCP connection, which a peer that sent GOAWAY without closing never does. After this long
 * the socket is dropped.
 */
const SESSION_CLOSE_TIMEOUT_MS = 1_000;

/** After a GOAWAY, reconnection attempts that fail are spaced 1 s, 2 s, 4 s … up to this. */
const MAX_RECONNECT_DELAY_MS = 30_000;
const FIRST_RECONNECT_DELAY_MS = 1_000;

/** A request waiting for a stream slot when every session is full and no new one may open. */
interface Waiter {
  readonly request: ProxyRequest;
  readonly context: RequestContext;
  readonly resolve: (response: ProxyResponse) => void;
  readonly reject: (error: TandemError) => void;
  releaseCancel: () => void;
}

/**
 * HTTP/2 (h2c, later h2 over TLS) connections to one endpoint, multiplexed.
 *
 * Streams go to the first session with room under min(our cap, the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS); when every session is full a new one opens, up to
 * `maxConnections`, and beyond that requests wait in order for a slot. A session that receives GOAWAY
 * is retired: no new streams, its streams at or below the GOAWAY's last-stream-id finish, and the ones
 * above it close with REFUSED_STREAM, which reaches the caller as a `notProcessed` error so the request
 * is sent again elsewhere (RFC 9113 §6.8).
 */
export class Http2Pool implements ConnectionPool {
  private readonly connections: Http2Connection[] = [];
  private readonly waiting: Waiter[] = [];
  private closed = false;
  private wentAway = false;
  private reconnectDelayMs = FIRST_RECONNECT_DELAY_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  readonly peer: Peer;

  /** @internal where its sessions' sockets come from */
  readonly sockets: ConnectionSource;

  constructor(readonly options: PoolOptions) {
    this.peer = { upstream: options.upstream, endpoint: `${options.address}:${options.port}` };
    this.sockets = new ConnectionSource(options, this.peer, ['h2']);
  }

  dispatch(request: ProxyRequest, context: RequestContext): Promise<ProxyResponse> {
    if (this.closed) return Promise.reject(streamRefused(this.peer, 'endpoint removed'));
    const connection = this.waiting.length === 0 ? this.acquire() : undefined;
    if (connection !== undefined) return connection.send(request, context);
    const { limits } = this.options;
    if (!limits.tryPending()) return Promise.reject(limits.overflowError('max_pending_requests'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { request, context, resolve, reject, releaseCancel: noop };
      waiter.releaseCancel = context.attemptCancellation.onCancel((reason) => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        limits.releasePending();
        reject(reason);
      });
      this.waiting.push(waiter);
    });
  }

  get goneAway(): boolean {
    return this.wentAway;
  }

  stats(): PoolStats {
    let activeRequests = this.waiting.length;
    for (const connection of this.connections) activeRequests += connection.active;
    return { connections: this.connections.length, activeRequests };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const waiter of this.waiting.splice(0)) {
      waiter.releaseCancel();
      this.options.limits.releasePending();
      waiter.reject(streamRefused(this.peer, 'endpoint removed'));
    }
    for (const connection of [...this.connections]) connection.retire();
  }

  destroy(): void {
    this.close();
    for (const connection of [...this.connections]) connection.session.destroy();
  }

  /** @internal called by a connection whose session has closed. */
  forget(connection: Http2Connection): void {
    const index = this.connections.indexOf(connection);
    if (index >= 0) this.connections.splice(index, 1);
    this.options.limits.releaseConnection();
    this.serveWaiting();
    // A reconnection after a GOAWAY that closed without connecting: the endpoint is likely gone.
    if (this.wentAway && !connection.connected && !this.closed && !this.connections.some((c) => !c.retiring)) this.scheduleReconnect();
  }

  /** @internal a connection received GOAWAY: if none is left open, the endpoint is going away. */
  wentAwayFrom(connection: Http2Connection): void {
    if (this.closed || this.connections.some((c) => c !== connection && !c.retiring && c.connected)) return;
    if (!this.wentAway) {
      this.wentAway = true;
      this.options.onGoneAwayChange?.();
    }
    // A peer rotating its connections (grpc-js max_connection_age) accepts the next one at once.
    if (!this.connections.some((c) => !c.retiring)) this.reconnect();
  }

  /** @internal a session connected: the endpoint takes requests again. */
  connectedTo(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectDelayMs = FIRST_RECONNECT_DELAY_MS;
    if (!this.wentAway) return;
    this.wentAway = false;
    this.options.onGoneAwayChange?.();
  }

  private reconnect(): void {
    if (this.closed || this.connections.some((c) => !c.retiring)) return;
    if (!this.options.limits.tryConnection()) return this.scheduleReconnect();
    this.connections.push(new Http2Connection(this));
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.reconnect(), this.reconnectDelayMs);
    this.reconnectTimer.unref();
    this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, MAX_RECONNECT_DELAY_MS);
  }

  private readonly onConnectionFreed = (): void => this.serveWaiting();

  /** @internal a stream slot may have opened: a stream ended, a session closed or SETTINGS raised a limit. */
  serveWaiting(): void {
    while (this.waiting.length > 0) {
      const connection = this.acquire();
      if (connection === undefined) return;
      const waiter = this.waiting.shift() as Waiter;
      waiter.releaseCancel();
      this.options.limits.releasePending();
      connection.send(waiter.request, waiter.context).then(waiter.resolve, waiter.reject);
    }
  }

  /** A session with a free stream slot, a new session if the caps allow one, or undefined. */
  private acquire(): Http2Connection | undefined {
    let live = 0;
    for (const connection of this.connections) {
      if (connection.retiring) continue;
      live++;
      if (connection.active < connection.capacity()) return connection;
    }
    if (live >= this.options.maxConnections) return undefined;
    if (!this.options.limits.tryConnection()) {
      // The upstream is at max_connections: a session closing anywhere in it may make room here.
      this.options.limits.whenConnectionFreed(this.onConnectionFreed);
      return undefined;
    }
    const connection = new Http2Connection(this);
    this.connections.push(connection);
    return connection;
  }
}

class Http2Connection {
  readonly session: ClientHttp2Session;
  active = 0;
  retiring = false;
  connected = false;
  /** Why the session failed, for classifying its streams' failures. */
  failure: unknown;
  private opened = 0;
  private peerMaxStreams = ASSUMED_PEER_MAX_STREAMS;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Retires the session when its certificates expire (`Connector.remainingLifetime`). */
  private lifetimeTimer: NodeJS.Timeout | undefined;
  private socket: Socket | undefined;

  constructor(readonly pool: Http2Pool) {
    const { options } = pool;
    const connector = options.connector;
    this.session = http2Connect(`${connector.scheme}://${options.address}:${options.port}`, {
      createConnection: () => (this.socket = pool.sockets.open()),
      settings: { enablePush: false, initialWindowSize: options.initialStreamWindowBytes ?? STREAM_WINDOW_BYTES },
    });
    this.session.on('connect', () => {
      this.connected = true;
      pool.connectedTo();
      if (this.active === 0) this.armIdleTimer(); // opened ahead of any request (after a GOAWAY)
      const lifetime = this.socket === undefined ? undefined : pool.sockets.remainingLifetime(this.socket);
      if (lifetime !== undefined) {
        this.lifetimeTimer = setTimeout(() => this.retire(), Math.max(0, lifetime));
        this.lifetimeTimer.unref();
      }
      this.session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
    this.session.on('remoteSettings', (settings: Settings) => {
      this.peerMaxStreams = settings.maxConcurrentStreams ?? Number.MAX_SAFE_INTEGER;
      pool.serveWaiting();
    });
    // Node may report one GOAWAY more than once; retiring is idempotent.
    this.session.on('goaway', () => {
      this.retire();
      pool.wentAwayFrom(this);
    });
    this.session.on('error', (error) => {
      this.failure = error;
    });
    this.session.on('close', () => {
      clearTimeout(this.idleTimer);
      clearTimeout(this.lifetimeTimer);
      this.retiring = true;
      pool.forget(this);
    });
  }

  capacity(): number {
    return Math.min(this.pool.options.maxConcurrentStreams, this.peerMaxStreams);
  }

  /** No new streams; close once the ones in flight finish. */
  retire(): void {
    this.retiring = true;
    if (this.active === 0) this.shut();
  }

  /** Closes a session with no streams left: GOAWAY, then the socket, whatever the peer does. */
  private shut(): void {
    if (!this.session.closed) this.session.close();
    const socket = this.socket;
    if (socket !== undefined) setTimeout(() => socket.destroy(), SESSION_CLOSE_TIMEOUT_MS).unref();
  }

  send(request: ProxyRequest, context: RequestContext): Promise<ProxyResponse> {
    let stream: ClientHttp2Stream;
    try {
      stream = this.session.request(requestHead(request, context, this.pool.options.connector.scheme), request.body.empty ? END_STREAM : BODY_FOLLOWS);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ERR_HTTP2_INVALID_HEADER_VALUE' || code === 'ERR_INVALID_CHAR' || code === 'ERR_HTTP2_INVALID_CONNECTION_HEADERS') {
        return Promise.reject(new TandemError(ErrorCode.BadRequest, `request cannot be sent over HTTP/2: ${(error as Error).message}`));
      }
      this.retire(); // the session is closing or out of stream ids
      return Promise.reject(streamRefused(this.pool.peer, 'connection closing'));
    }
    this.streamOpened();
    return new Promise((resolve, reject) => {
      new Http2Exchange(this, stream, request, context, resolve, reject);
    });
  }

  private streamOpened(): void {
    this.active++;
    this.opened++;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.opened >= MAX_STREAMS_PER_SESSION) this.retiring = true;
  }

  /** @internal */
  streamClosed(): void {
    this.active--;
    if (this.active === 0) {
      if (this.retiring) this.shut();
      else this.armIdleTimer();
    }
    this.pool.serveWaiting();
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.retire(), this.pool.options.idleTimeoutMs);
    this.idleTimer.unref();
  }
}

/** `request()` options: Node copies them, so one object of each kind serves every request. */
const END_STREAM = Object.freeze({ endStream: true });
const BODY_FOLLOWS = Object.freeze({ endStream: false });

/** The exchange a client stream belongs to, for the listeners every exchange shares. */
const EXCHANGE = Symbol('tandem.exchange');
type ExchangeStream = ClientHttp2Stream & { [EXCHANGE]: Http2Exchange | undefined };

/**
 * One request/response on one stream, and the source of its response's body. Its stream listeners
 * are module functions that find the exchange on the stream (`this` is the emitter), not closures
 * made for each request.
 */
class Http2Exchange implements BodySource {
  private responded = false;
  private body: PushedBody | undefined;
  private reading = false;
  // Public for the stream listeners below; the class is this module's own.
  trailers: Headers | undefined;
  streamError: unknown;
  cancelledBy: TandemError | undefined;
  private readonly releaseCancel: () => void;

  constructor(
    private readonly connection: Http2Connection,
    private readonly stream: ClientHttp2Stream,
    private readonly request: ProxyRequest,
    context: RequestContext,
    private readonly resolve: (response: ProxyResponse) => void,
    private readonly reject: (error: TandemError) => void,
  ) {
    (stream as ExchangeStream)[EXCHANGE] = this;
    stream.on('response', onStreamResponse);
    stream.on('trailers', onStreamTrailers);
    stream.on('end', onStreamEnd);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    releaseWhenClosed(stream);
    this.releaseCancel = context.attemptCancellation.onCancel((reason) => {
      this.cancelledBy = reason;
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    });
    if (!request.body.empty) request.body.sendTo(stream);
  }

  headReceived(head: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number): void {
    this.responded = true;
    this.body = new PushedBody(this);
    this.resolve({
      status: Number(head[':status']),
      headers: downstreamResponseHeaders(head),
      endStream: (flags & END_STREAM_FLAG) !== 0,
      body: this.body,
    });
  }

  /**
   * Node also emits 'end' on a stream Tandem itself closed (a timeout's or the client's cancel): that
   * body did not complete, and 'close' fails it with the reason.
   */
  ended(): void {
    if (this.cancelledBy === undefined && (this.stream.rstCode ?? 0) === 0) this.body?.complete(forwardableTrailers(this.trailers));
  }

  closed(): void {
    this.connection.streamClosed();
    if (!this.responded) {
      this.releaseCancel();
      this.request.body.detach();
      this.reject(this.closeReason());
    } else if (this.body !== undefined && !this.body.finished) {
      this.body.fail(this.closeReason());
    }
  }

  pushed(chunk: Buffer): void {
    this.body?.push(chunk);
  }

  resumeBody(): void {
    if (!this.reading) {
      this.reading = true;
      this.stream.on('data', onStreamData);
    }
    this.stream.resume();
  }

  pauseBody(): void {
    this.stream.pause();
  }

  resetUpstream(): void {
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }

  bodyDone(): void {
    this.stream.off('data', onStreamData);
    this.releaseCancel();
  }

  /** Why the stream ended without completing. */
  private closeReason(): TandemError {
    if (this.cancelledBy !== undefined) return this.cancelledBy;
    const { connection, stream } = this;
    const peer = connection.pool.peer;
    if (!connection.connected) return connectFailed(peer, connection.failure ?? this.streamError);
    const code = stream.rstCode;
    if (code === NGHTTP2_REFUSED_STREAM) return streamRefused(peer, connection.retiring ? 'GOAWAY' : 'REFUSED_STREAM');
    if (connection.session.destroyed || connection.failure !== undefined) {
      return connectionLost(peer, connection.failure ?? this.streamError ?? 'connection closed');
    }
    if (code !== undefined && code !== 0) return streamReset(peer, code);
    return this.responded
      ? connectionLost(peer, this.streamError ?? 'stream closed before the body ended')
      : protocolError(peer, 'closed the stream without a response');
  }
}

function onStreamResponse(this: ExchangeStream, head: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number): void {
  this[EXCHANGE]?.headReceived(head, flags);
}

function onStreamTrailers(this: ExchangeStream, trailers: IncomingHttpHeaders): void {
  const exchange = this[EXCHANGE];
  if (exchange !== undefined) exchange.trailers = trailers;
}

function onStreamEnd(this: ExchangeStream): void {
  this[EXCHANGE]?.ended();
}

/**
 * A stream queued on a session whose socket fails is cancelled by Node, with the socket's error
 * (ECONNREFUSED, our connect timeout) as the cause, and before the session reports it.
 */
function onStreamError(this: ExchangeStream, error: NodeJS.ErrnoException): void {
  const exchange = this[EXCHANGE];
  if (exchange !== undefined) exchange.streamError = error.code === 'ERR_HTTP2_STREAM_CANCEL' && error.cause !== undefined ? error.cause : error;
}

/**
 * The last event: the stream lets go of its exchange, which Node keeps reachable from its native half
 * until a full collection (see `releaseWhenClosed`), so nothing the exchange holds is promoted with it.
 */
function onStreamClose(this: ExchangeStream): void {
  const exchange = this[EXCHANGE];
  this[EXCHANGE] = undefined;
  exchange?.closed();
}

function onStreamData(this: ExchangeStream, chunk: Buffer): void {
  this[EXCHANGE]?.pushed(chunk);
}

function requestHead(request: ProxyRequest, context: RequestContext, scheme: string): OutgoingHttpHeaders {
  const head: OutgoingHttpHeaders = {
    ':method': request.method,
    ':scheme': scheme,
    ':authority': request.authority,
    ':path': request.path,
  };
  const headers = request.headers;
  for (const name in headers) head[name] = headers[name];
  numberAttempt(head, request, context.attempts);
  propagateTrace(head, context);
  if (context.deadline !== Infinity) head['grpc-timeout'] = encodeGrpcTimeout(Math.max(context.deadline - performance.now(), 0));
  return head;
}

function noop(): void {}
