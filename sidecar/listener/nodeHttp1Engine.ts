import type { Server as Http1Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { DownstreamConnection } from '../http/request.js';
import { onHttp1Request } from './http1Downstream.js';
import { Http1Guards } from './http1Guards.js';
import { DRAIN_SWEEP_MS, type Http1EngineOptions, type Http1ServerEngine } from './http1ServerEngine.js';
import { http1Server } from './servers.js';

/** HTTP/1.1 on Node's `http.Server`, fed the connections the listener's acceptor established. */
export class NodeHttp1Engine implements Http1ServerEngine {
  private readonly server: Http1Server;
  /** What the acceptor learned, by the stream HTTP/1.1 requests arrive on. */
  private readonly connections = new WeakMap<Duplex, DownstreamConnection>();
  /** Responses not yet finished, to turn keep-alive off on when the listener drains. */
  private readonly responses = new Set<ServerResponse>();
  /** Connections, with when each last started a request or finished a response (`performance.now()`). */
  private readonly streams = new Map<Duplex, number>();
  private draining = false;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: Http1EngineOptions) {
    const { service, timeouts, limits, names, guarded } = options;
    const guards = new Http1Guards(guarded, limits.maxHeadersCount);
    this.server = http1Server((req, res) => {
      // Draining: the response says `Connection: close`, and Node closes the connection after it.
      if (this.draining) res.shouldKeepAlive = false;
      this.responses.add(res);
      this.streams.set(req.socket, performance.now());
      res.once('close', () => {
        this.responses.delete(res);
        guards.finished(req.socket);
        // Not for a connection that has gone meanwhile (its entry is removed on close).
        if (this.streams.has(req.socket)) this.streams.set(req.socket, performance.now());
      });
      if (guards.admit(req, res)) onHttp1Request(req, res, this.connections.get(req.socket) as DownstreamConnection, service, names);
    }, timeouts, limits);
    this.server.on('clientError', guards.onClientError);
  }

  accept(stream: Duplex, connection: DownstreamConnection): void {
    this.connections.set(stream, connection);
    this.streams.set(stream, performance.now());
    const closed = this.options.connectionOpened?.('http1');
    stream.once('close', () => {
      this.streams.delete(stream);
      closed?.();
    });
    this.server.emit('connection', stream);
    stream.resume(); // the HTTP/1 parser waits for flowing data
  }

  drain(idleCloseMs: number): void {
    this.draining = true;
    for (const res of this.responses) if (!res.headersSent) res.shouldKeepAlive = false;
    if (idleCloseMs === Infinity) return;
    const sweep = (): void => {
      const busy = new Set<unknown>();
      for (const res of this.responses) busy.add(res.socket);
      const now = performance.now();
      for (const [stream, lastActive] of this.streams) {
        if (!busy.has(stream) && now - lastActive >= idleCloseMs) (stream as Socket).destroySoon();
      }
    };
    sweep();
    clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(sweep, DRAIN_SWEEP_MS);
    this.sweepTimer.unref();
  }

  close(): void {
    this.server.close(); // stops the head-timeout checks
    clearInterval(this.sweepTimer);
  }
}
