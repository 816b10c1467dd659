import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCode, TandemError } from '../core/errors.js';
import { downstreamResponseHeaders, forwardableTrailers } from '../http/headers.js';
import type { Headers, ProxyRequest, ProxyResponse } from '../http/message.js';
import type { ConnectionPool, PoolOptions, PoolStats } from './pool.js';
import { StreamedBody } from './streamedBody.js';
import { connectFailed, connectionLost, protocolError, streamRefused, type Peer } from './upstreamErrors.js';

/**
 * HTTP/1.1 keep-alive connections to one endpoint, on Node's `http.Agent`: at most `maxConnections`
 * sockets (requests beyond wait in the agent's queue), most recently used socket first (LIFO keeps
 * the fewest sockets warm and the least likely to have been closed by the peer), idle sockets closed
 * after `idleTimeoutMs`. Node also retires a socket a second before the server's advertised
 * `Keep-Alive: timeout=N`.
 */
export class Http1Pool implements ConnectionPool {
  readonly peer: Peer;
  private readonly agent: EndpointAgent;
  private active = 0;
  private closed = false;

  constructor(readonly options: PoolOptions) {
    this.peer = { upstream: options.upstream, endpoint: `${options.address}:${options.port}` };
    this.agent = new EndpointAgent(options, this.peer);
  }

  dispatch(request: ProxyRequest): Promise<ProxyResponse> {
    if (this.closed) return Promise.reject(streamRefused(this.peer, 'endpoint removed'));
    const { address, port } = this.options;
    const headers: OutgoingHttpHeaders = { host: request.authority };
    for (const name in request.headers) headers[name] = request.headers[name];
    // A body of unknown length must be chunked (RFC 9112 §6). Node only chunks by default for methods
    // other than GET, HEAD, DELETE, OPTIONS, TRACE and CONNECT; written raw on a keep-alive connection,
    // such a body would be read by the upstream as the next request.
    if (!request.body.empty && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
    let upstream: ClientRequest;
    try {
      upstream = httpRequest({ agent: this.agent, host: address, port, method: request.method, path: request.path, headers, setHost: false });
    } catch (error) {
      return Promise.reject(new TandemError(ErrorCode.BadRequest, `request cannot be sent over HTTP/1.1: ${(error as Error).message}`));
    }
    this.active++;
    return new Promise((resolve, reject) => {
      new Http1Exchange(this, upstream, request, resolve, reject);
    });
  }

  stats(): PoolStats {
    return { connections: countSockets(this.agent.sockets) + countSockets(this.agent.freeSockets), activeRequests: this.active };
  }

  close(): void {
    this.closed = true;
    for (const sockets of Object.values(this.agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    if (this.active === 0) this.agent.destroy();
  }

  destroy(): void {
    this.closed = true;
    this.agent.destroy();
  }

  /** @internal */
  exchangeDone(): void {
    this.active--;
    if (this.closed && this.active === 0) this.agent.destroy();
  }
}

class EndpointAgent extends Agent {
  constructor(
    private readonly pool: PoolOptions,
    private readonly peer: Peer,
  ) {
    super({
      keepAlive: true,
      maxSockets: pool.maxConnections,
      maxFreeSockets: pool.maxConnections,
      timeout: pool.idleTimeoutMs,
      scheduling: 'lifo',
    });
  }

  override createConnection(): Duplex {
    const { pool } = this;
    return pool.connector.connect({ ...this.peer, address: pool.address, port: pool.port, timeoutMs: pool.connectTimeoutMs });
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
    private readonly resolve: (response: ProxyResponse) => void,
    private readonly reject: (error: TandemError) => void,
  ) {
    upstream.on('socket', (socket) => {
      if (!socket.connecting) this.connected = true;
      else socket.once('connect', () => (this.connected = true));
    });
    upstream.on('response', this.onResponse);
    upstream.on('error', this.onError);
    upstream.on('close', () => {
      if (!this.responded) this.finish();
    });
    this.releaseCancel = request.cancellation.onCancel((reason) => {
      this.cancelledBy = reason;
      upstream.destroy();
    });
    if (request.body.empty) upstream.end();
    else request.body.sendTo(upstream);
  }

  private readonly onResponse = (response: IncomingMessage): void => {
    this.responded = true;
    this.request.body.commit();
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
