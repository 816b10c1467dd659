import type { Duplex } from 'node:stream';
import type { HttpVersion, Service } from '../http/message.js';
import type { DownstreamConnection } from '../http/request.js';
import type { HeaderNamePolicy } from './headerNames.js';
import type { ListenerLimits } from './limits.js';
import type { ConnectionTimeouts } from './servers.js';

/**
 * The HTTP/1.1 server side of a listener: what parses requests on the connections the acceptor
 * established and writes their responses. Node's `http.Server` (`nodeHttp1Engine.ts`) or the lean
 * engine (`leanHttp1Engine.ts`), chosen per listener; the listener knows only this.
 */
export interface Http1ServerEngine {
  /** Serves HTTP/1.1 on `stream` (paused, as the acceptor hands it over) until it closes. */
  accept(stream: Duplex, connection: DownstreamConnection): void;
  /**
   * The listener drains: responses not yet begun say `Connection: close` (the connection closes after
   * them), and connections idle for `idleCloseMs` are closed, now and as they get there (Infinity: left
   * for their next request, whose answer tells the client).
   */
  drain(idleCloseMs: number): void;
  /** Stops the engine's own timers (head timeouts, drain sweeps); connections are the listener's to end. */
  close(): void;
}

/** What a listener gives its HTTP/1.1 engine. */
export interface Http1EngineOptions {
  readonly service: Service;
  readonly timeouts: ConnectionTimeouts;
  readonly limits: ListenerLimits;
  readonly names: HeaderNamePolicy;
  readonly guarded: (reason: string) => void;
  readonly connectionOpened: ((protocol: HttpVersion) => () => void) | undefined;
}

/** How often a draining listener looks for HTTP/1.1 connections to close. */
export const DRAIN_SWEEP_MS = 250;
