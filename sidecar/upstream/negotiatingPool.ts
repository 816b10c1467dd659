import type { TandemError } from '../core/errors.js';
import type { RequestContext } from '../http/context.js';
import type { ProxyResponse } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';
import type { ConnectTarget, NegotiatedConnection } from './connector.js';
import { createHttp1Pool } from './createHttp1Pool.js';
import { Http2Pool } from './http2Pool.js';
import type { ConnectionPool, PoolOptions, PoolStats } from './pool.js';
import { connectFailed, streamRefused, type Peer } from './upstreamErrors.js';

/**
 * An endpoint whose connections negotiate their protocol (TLS with ALPN offering h2 and http/1.1, as
 * Envoy's `auto_config`): its first connection's answer decides whether requests travel multiplexed
 * over HTTP/2 or over HTTP/1.1 keep-alive connections, and the chosen pool adopts that connection.
 * Requests arriving meanwhile wait for the answer; if the first connection fails they fail as its
 * connect did (unprocessed, so they are resent elsewhere) and the next request asks again.
 */
export class NegotiatingPool implements ConnectionPool {
  private readonly peer: Peer;
  private chosen: ConnectionPool | undefined;
  private negotiation: Promise<ConnectionPool> | undefined;
  private waiting = 0;
  private closed = false;

  constructor(
    private readonly options: PoolOptions,
    private readonly negotiate: (target: ConnectTarget) => Promise<NegotiatedConnection>,
  ) {
    this.peer = { upstream: options.upstream, endpoint: `${options.address}:${options.port}` };
  }

  dispatch(request: ProxyRequest, context: RequestContext): Promise<ProxyResponse> {
    if (this.chosen !== undefined) return this.chosen.dispatch(request, context);
    if (this.closed) return Promise.reject(streamRefused(this.peer, 'endpoint removed'));
    const negotiation = (this.negotiation ??= this.negotiateOnce());
    this.waiting++;
    return new Promise((resolve, reject) => {
      let waiting = true;
      let release = noop;
      const leave = (): boolean => {
        if (!waiting) return false;
        waiting = false;
        this.waiting--;
        release();
        return true;
      };
      release = context.attemptCancellation.onCancel((reason) => {
        if (leave()) reject(reason);
      });
      negotiation.then(
        (pool) => {
          if (leave()) pool.dispatch(request, context).then(resolve, reject);
        },
        (error: TandemError) => {
          if (leave()) reject(error);
        },
      );
    });
  }

  get goneAway(): boolean {
    return this.chosen?.goneAway ?? false;
  }

  stats(): PoolStats {
    return this.chosen?.stats() ?? { connections: this.negotiation === undefined ? 0 : 1, activeRequests: this.waiting };
  }

  close(): void {
    this.closed = true;
    this.chosen?.close();
  }

  destroy(): void {
    this.closed = true;
    this.chosen?.destroy();
  }

  private async negotiateOnce(): Promise<ConnectionPool> {
    const { options } = this;
    let connection: NegotiatedConnection;
    try {
      connection = await this.negotiate({
        ...this.peer,
        address: options.address,
        port: options.port,
        timeoutMs: options.connectTimeoutMs,
        serverName: options.serverName,
        alpnProtocols: ['h2', 'http/1.1'],
        expectedIdentity: options.expectedIdentity,
      });
    } catch (error) {
      this.negotiation = undefined; // the next request asks again
      throw connectFailed(this.peer, error);
    }
    if (this.closed) {
      connection.socket.destroy();
      throw streamRefused(this.peer, 'endpoint removed');
    }
    const adopting = { ...options, adopt: connection.socket };
    this.chosen = connection.protocol === 'h2' ? new Http2Pool(adopting) : createHttp1Pool(adopting);
    return this.chosen;
  }
}

function noop(): void {}
