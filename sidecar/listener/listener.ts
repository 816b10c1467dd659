import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { createLogger } from '../core/log.js';
import type { HttpVersion, Service } from '../http/message.js';
import type { DownstreamConnection } from '../http/request.js';
import { plaintextAcceptor, type Acceptor } from './acceptor.js';
import type { Http1Engine } from '../http1/engine.js';
import { createHttp1ServerEngine } from './http1Engines.js';
import type { Http1ServerEngine } from './http1ServerEngine.js';
import { headerNamePolicy } from './headerNames.js';
import { onHttp2Stream } from './http2Downstream.js';
import { guardHttp2Session, headListLimit } from './http2Guards.js';
import { goAwayGracefully, guardSession } from './http2Sessions.js';
import { SIDECAR_LIMIT_DEFAULTS, type ListenerLimits } from './limits.js';
import { bindTcpPort, type BoundPort, type PortBinder } from './ports.js';
import { http2Server, type ConnectionTimeouts } from './servers.js';

const log = createLogger('listener');

/**
 * A draining listener closes an idle HTTP/1.1 keep-alive connection once it has been idle this long.
 * Closing an idle connection races the client's next request on it (which then fails: nothing tells
 * an HTTP/1.1 client the connection is going but the close itself). A client that is busy sends its
 * next request well within this and gets `Connection: close` on the answer instead; only one that
 * has gone quiet is closed, and the race needs it to speak again at that very moment.
 */
const DRAIN_IDLE_CLOSE_MS = 1_000;

export interface ListenerOptions {
  /** For logs, metrics and admin output: `outbound.orders`, `outbound.http_proxy`, `inbound`. */
  readonly name: string;
  readonly address: string;
  /** 0 picks a free port; `port` tells which after `listen()`. */
  readonly port: number;
  /** The direction's stack: every request the listener parses goes here. */
  readonly service: Service;
  readonly timeouts: ConnectionTimeouts;
  /** How connections are established; plaintext sniffing of HTTP/1.1 and h2c unless given. */
  readonly acceptor?: Acceptor;
  /**
   * Bind with SO_REUSEPORT, so a successor Tandem can bind the same port before this one lets go of
   * it (`tandem sidecar --replace`). Linux only.
   */
  readonly reusePort?: boolean;
  /** How the port is bound: in this process unless given (a worker's comes from its primary). */
  readonly bindPort?: PortBinder;
  /** Clients from outside the mesh (a gateway): the forwarding headers they send are not taken on trust. */
  readonly edge?: boolean;
  /** What a client may use (connections, head sizes, streams); the sidecar defaults unless given. */
  readonly limits?: ListenerLimits;
  /** Counts what the listener refused or cut to protect itself, by reason (`tandem_listener_guarded_total`). */
  readonly guarded?: (reason: string) => void;
  /** Counts a connection open, by protocol, once the acceptor has told which; what it returns counts it closed (`tandem_listener_connections`). */
  readonly connectionOpened?: (protocol: HttpVersion) => () => void;
  /** What parses HTTP/1.1: Node's `http.Server` or the lean engine; `TANDEM_HTTP1_ENGINE` unless given. */
  readonly http1Engine?: Http1Engine;
}

/**
 * One TCP port serving HTTP/1.1 and HTTP/2 side by side. The acceptor establishes each connection
 * (which protocol, which peer); an HTTP/1.1 engine or Node's HTTP/2 server then only parses, and every request
 * goes to the listener's service with the connection's facts.
 */
export class Listener {
  readonly name: string;
  /** The bound port, until the listener stops accepting. */
  private bound: BoundPort | undefined;
  private readonly http1: Http1ServerEngine;
  private readonly http2: Http2Server;
  private readonly acceptor: Acceptor;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly http2Connections = new WeakMap<ServerHttp2Session, DownstreamConnection>();
  /** The connection whose stream is being handed to the HTTP/2 server, which opens its session synchronously. */
  private handingOver: DownstreamConnection | undefined;
  private boundPort = 0;
  private draining = false;
  private readonly maxConnections: number;
  /** Two-phase GOAWAYs whose final GOAWAY is still to come. */
  private readonly goingAway = new Set<Promise<void>>();

  constructor(private readonly options: ListenerOptions) {
    this.name = options.name;
    const { service, timeouts } = options;
    const limits = options.limits ?? SIDECAR_LIMIT_DEFAULTS;
    this.maxConnections = limits.maxConnections;
    this.acceptor = options.acceptor ?? plaintextAcceptor(timeouts.requestHeadersTimeoutMs);
    const guarded = options.guarded ?? ((): void => undefined);
    const names = headerNamePolicy(limits.headersWithUnderscores, guarded);
    this.http1 = createHttp1ServerEngine({ service, timeouts, limits, names, guarded, connectionOpened: options.connectionOpened }, options.http1Engine);
    const headSize = headListLimit(limits.maxRequestHeaderBytes, guarded);
    this.http2 = http2Server((stream, head, flags) => onHttp2Stream(stream, head, flags, this.http2Connections.get(stream.session as ServerHttp2Session) as DownstreamConnection, service, names, headSize), limits);
    this.http2.on('session', (session: ServerHttp2Session) => {
      this.http2Connections.set(session, this.handingOver as DownstreamConnection);
      this.sessions.add(session);
      const closed = options.connectionOpened?.('http2');
      session.once('close', () => {
        this.sessions.delete(session);
        closed?.();
      });
      guardSession(session, timeouts);
      guardHttp2Session(session, guarded);
      if (this.draining) this.goAway(session); // accepted just before the listener stopped
    });
  }

  /** Binds the port; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    const { name, address, port } = this.options;
    const bindPort = this.options.bindPort ?? bindTcpPort;
    this.bound = await bindPort({ name, address, port, reusePort: this.options.reusePort === true }, (socket) => this.accept(socket));
    const bound = this.bound.address;
    this.boundPort = bound.port;
    // A port bound elsewhere (a worker's, by its primary) is logged as bound there.
    if (this.options.bindPort === undefined) log.info('listener bound', { listener: this.name, address: `${bound.address}:${bound.port}` });
    else log.debug('listener receiving connections', { listener: this.name, address: `${bound.address}:${bound.port}` });
    return bound;
  }

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return this.options.address;
  }

  /** Closes the listening socket; connections already accepted go on. With a successor on the port, new ones go there. */
  stopAccepting(): void {
    this.bound?.close();
    this.bound = undefined;
  }

  /**
   * Asks every connection to finish without losing a request: HTTP/2 ones get the two-phase GOAWAY,
   * HTTP/1.1 ones `Connection: close` on their next response. Requests in flight complete.
   * Connections accepted later are asked at once.
   *
   * @param closeIdle also close HTTP/1.1 connections once idle (for `DRAIN_IDLE_CLOSE_MS`): right when
   *   clients have been told to go elsewhere (deregistered); when a successor serves the same address
   *   they are left for the client's next request, which learns from its answer (HAProxy's
   *   `idle-close-on-response`), and `close()` ends whatever is left.
   */
  drain(closeIdle = true): void {
    if (this.draining) return;
    this.draining = true;
    for (const session of this.sessions) this.goAway(session);
    this.http1.drain(closeIdle ? DRAIN_IDLE_CLOSE_MS : Infinity);
  }

  private goAway(session: ServerHttp2Session): void {
    const going = goAwayGracefully(session);
    this.goingAway.add(going);
    void going.then(() => this.goingAway.delete(going));
  }

  /** Resolves once every connection has closed. */
  whenClosed(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.sockets.size === 0) resolve();
      };
      for (const socket of this.sockets) socket.once('close', () => setImmediate(check));
    });
  }

  /** Drops every connection at once. */
  destroyConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /**
   * Stops accepting and closes connections as their work ends (after a `drain()`, as it asked them;
   * otherwise with a single GOAWAY); whatever is still open after `graceMs` is dropped.
   */
  async close(graceMs = 0): Promise<void> {
    this.stopAccepting();
    const drained = this.draining;
    if (!drained) {
      // The end, not a handover of work: one GOAWAY naming the last stream each connection sent,
      // without the PING round trip (a stream racing it is refused, which a client may resend).
      this.draining = true;
      for (const session of this.sessions) session.close();
    }
    // After a drain, an HTTP/1.1 connection that was busy a moment ago still gets its idle second
    // (within `graceMs`): closing it at once would race its client's next request, just as closing
    // it during the drain would — the last work may end, and the drain with it, just after a
    // response on another connection (another worker's, with `workers`). Without a drain, this is
    // the end: whatever is idle now closes now.
    this.http1.drain(drained ? DRAIN_IDLE_CLOSE_MS : 0);
    await Promise.all(this.goingAway); // each ends its two phases within a second
    const timer = setTimeout(() => this.destroyConnections(), graceMs);
    await this.whenClosed();
    clearTimeout(timer);
    // Stops the engine's timers; only now, as Node's `http.Server.close()` also closes every idle connection at once.
    this.http1.close();
    this.acceptor.close?.();
  }

  private accept(socket: Socket): void {
    if (this.sockets.size >= this.maxConnections) {
      // Over the limit: closed at once, before any byte is read, so what is open keeps its share.
      socket.destroy();
      this.options.guarded?.('connection_limit');
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.acceptor.accept(socket, (stream, accepted) => {
      const connection = this.options.edge === true ? { ...accepted, edge: true } : accepted;
      if (connection.protocol === 'http2') {
        this.handingOver = connection;
        this.http2.emit('connection', stream); // the session reads the unshifted preface itself
        this.handingOver = undefined;
      } else this.http1.accept(stream, connection);
    });
  }
}

