import type { Server as Http1Server } from 'node:http';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createLogger } from '../core/log.js';
import { detectHttpVersion } from './detect.js';
import { onHttp1Request, type DownstreamContext } from './http1Downstream.js';
import { onHttp2Stream } from './http2Downstream.js';
import type { Route } from './serve.js';
import { http1Server, http2Server } from './servers.js';

const log = createLogger('listener');

export interface ListenerOptions {
  /** For logs and admin output: `outbound.orders`, `outbound.http_proxy`, `inbound`. */
  readonly name: string;
  readonly address: string;
  /** 0 picks a free port; `port` tells which after `listen()`. */
  readonly port: number;
  readonly route: Route;
}

/**
 * One TCP port serving HTTP/1.1 and h2c (prior knowledge) side by side: each connection is sniffed,
 * then handed to Node's HTTP/1.1 or HTTP/2 server. Both servers only parse; requests go to `route`.
 */
export class Listener {
  readonly name: string;
  private readonly tcp: TcpServer;
  private readonly http1: Http1Server;
  private readonly http2: Http2Server;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private boundPort = 0;

  constructor(private readonly options: ListenerOptions) {
    this.name = options.name;
    const context: DownstreamContext = { route: options.route, scheme: 'http' };
    this.http1 = http1Server((req, res) => onHttp1Request(req, res, context));
    this.http2 = http2Server((stream, head, flags) => onHttp2Stream(stream, head, flags, context));
    this.http2.on('session', (session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
    this.tcp = createTcpServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Binds the port; resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(this.options.port, this.options.address, () => {
        this.tcp.off('error', reject);
        const address = this.tcp.address() as AddressInfo;
        this.boundPort = address.port;
        log.info('listener bound', { listener: this.name, address: `${address.address}:${address.port}` });
        resolve(address);
      });
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return this.options.address;
  }

  /**
   * Stops accepting, asks every connection to finish (GOAWAY on HTTP/2, close-after-response on
   * HTTP/1.1) and destroys whatever is still open after `graceMs`.
   */
  close(graceMs = 0): Promise<void> {
    this.tcp.close();
    this.http1.closeIdleConnections();
    for (const session of this.sessions) session.close();
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, graceMs);
      const check = (): void => {
        if (this.sockets.size > 0) return;
        clearTimeout(timer);
        resolve();
      };
      for (const socket of this.sockets) socket.once('close', () => setImmediate(check));
    });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    detectHttpVersion(socket, (version) => {
      if (version === 'http2') {
        this.http2.emit('connection', socket); // the session reads the unshifted preface itself
      } else {
        this.http1.emit('connection', socket);
        socket.resume(); // the HTTP/1 parser waits for flowing data
      }
    });
  }
}
