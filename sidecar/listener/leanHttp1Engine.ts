import type { Duplex } from 'node:stream';
import { RequestContext } from '../http/context.js';
import type { DownstreamConnection } from '../http/request.js';
import type { Http1ParseError } from '../http1/fields.js';
import { BodyFraming, type ParsedRequestHead } from '../http1/requestParser.js';
import { serializeResponseHead, type ResponseRequestFacts } from '../http1/responseWriter.js';
import { Expiry, ServerConnection, type DrainWaiter, type ServerConnectionOwner } from '../http1/serverConnection.js';
import { http1ProxyRequest } from './http1Downstream.js';
import { clientErrorVerdict, http1Refusal, refusalHeaders } from './http1Guards.js';
import { DRAIN_SWEEP_MS, type Http1EngineOptions, type Http1ServerEngine } from './http1ServerEngine.js';
import { LeanBodySource, LeanHttp1Downstream, type ExchangeSlot, type ResponsePolicy } from './leanHttp1Downstream.js';
import { serve } from './serve.js';
import { HEAD_TIMEOUT_CHECK_MS } from './servers.js';

/** Node's tests of `Expect` and of an HTTP/1.0 request's `TE` (`_http_common.js`, `_http_server.js`). */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;
const CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;
/** A refusal's body is one small write that nothing waits on. */
const NO_WAITER: DrainWaiter = { drained: () => undefined };

/** A lean connection with what the listener knows of it. */
class LeanConnection extends ServerConnection implements ExchangeSlot {
  current: LeanHttp1Downstream | undefined;

  constructor(
    stream: Duplex,
    engine: LeanHttp1Engine,
    now: number,
    readonly info: DownstreamConnection,
    readonly counted: (() => void) | undefined,
  ) {
    super(stream, engine, engine.connectionLimits, now);
  }
}

/**
 * HTTP/1.1 on the lean engine (`sidecar/http1/`): the same answers as `NodeHttp1Engine` with
 * `Http1Guards` (the differential test in test/integration/http1/ holds them to it), with less kept per
 * connection: no timers of its own (one sweep per listener checks head, request and idle time, as
 * Node's `connectionsCheckingInterval` checks heads), and no objects per request beyond the request's.
 */
export class LeanHttp1Engine implements Http1ServerEngine, ServerConnectionOwner, ResponsePolicy {
  readonly connectionLimits: { readonly maxHeadBytes: number; readonly maxFields: number };
  readonly keepAliveTimeoutMs: number;
  draining = false;
  private readonly connections = new Set<LeanConnection>();
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private drainIdleMs = Infinity;
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: Http1EngineOptions) {
    const { limits, timeouts } = options;
    this.connectionLimits = { maxHeadBytes: limits.maxRequestHeaderBytes, maxFields: limits.maxHeadersCount + 1 };
    this.keepAliveTimeoutMs = timeouts.idleTimeoutMs;
    if (timeouts.requestHeadersTimeoutMs > 0 || timeouts.idleTimeoutMs > 0 || limits.requestTimeoutMs > 0) {
      this.sweepTimer = setInterval(this.sweep, HEAD_TIMEOUT_CHECK_MS);
      this.sweepTimer.unref();
    }
  }

  accept(stream: Duplex, info: DownstreamConnection): void {
    const connection = new LeanConnection(stream, this, performance.now(), info, this.options.connectionOpened?.('http1'));
    this.connections.add(connection);
    stream.resume();
  }

  request(served: ServerConnection, head: ParsedRequestHead): void {
    const connection = served as LeanConnection;
    // Node's server destroys a CONNECT it has no 'connect' listener for, and a `PRI` (an HTTP/2 preface).
    if (head.method === 'CONNECT' || head.method === 'PRI') {
      connection.destroy();
      return;
    }
    const facts: ResponseRequestFacts = {
      method: head.method,
      versionMinor: head.versionMinor,
      keepAlive: head.keepAlive && !this.draining,
      acceptsChunked: head.versionMinor === 0 && CHUNKED.test(String(head.headers['te'])),
    };
    const expect = head.headers['expect'];
    if (head.versionMinor === 1 && expect !== undefined) {
      // RFC 9110 §10.1.1, as Node answers it: 100 Continue at once; any other expectation 417, unserved.
      if (CONTINUE.test(String(expect))) connection.writeContinue();
      else {
        connection.respond(serializeResponseHead(417, {}, facts, true, this.keepAliveTimeoutMs));
        connection.end(undefined);
        return;
      }
    }
    const refusal = http1Refusal(head.headers, head.versionMinor, head.fieldCount, this.options.limits.maxHeadersCount);
    if (refusal !== undefined) {
      this.options.guarded(refusal.reason);
      const body = `${refusal.why}\n`;
      connection.stopReading(); // the body's framing is unknown: nothing after this head can be read
      connection.respond(serializeResponseHead(refusal.status, refusalHeaders(body), { ...facts, keepAlive: false }, true, this.keepAliveTimeoutMs));
      connection.write(Buffer.from(body), NO_WAITER);
      connection.end(undefined);
      return;
    }
    const context = new RequestContext();
    const downstream = new LeanHttp1Downstream(connection, context, facts, this);
    connection.current = downstream;
    const source = head.framing === BodyFraming.None ? undefined : new LeanBodySource(connection);
    const request = http1ProxyRequest(head.method, head.target, head.headers, source, connection.info, this.options.names);
    serve(this.options.service, request, context, downstream);
  }

  malformed(served: ServerConnection, error: Http1ParseError): void {
    const verdict = clientErrorVerdict(error.code, false);
    if (verdict === undefined) {
      served.destroy();
      return;
    }
    this.options.guarded(verdict.reason);
    served.refuse(verdict.response);
  }

  closed(served: ServerConnection, cancelled: boolean): void {
    const connection = served as LeanConnection;
    this.connections.delete(connection);
    connection.counted?.();
    const current = connection.current;
    connection.current = undefined;
    if (cancelled) current?.cancel();
  }

  drain(idleCloseMs: number): void {
    this.draining = true;
    if (idleCloseMs === Infinity) return;
    this.drainIdleMs = idleCloseMs;
    this.drainSweep();
    clearInterval(this.drainTimer);
    this.drainTimer = setInterval(this.drainSweep, DRAIN_SWEEP_MS);
    this.drainTimer.unref();
  }

  close(): void {
    clearInterval(this.sweepTimer);
    clearInterval(this.drainTimer);
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    const { timeouts, limits, guarded } = this.options;
    for (const connection of this.connections) {
      const expiry = connection.expired(now, timeouts.requestHeadersTimeoutMs, limits.requestTimeoutMs, timeouts.idleTimeoutMs);
      if (expiry === Expiry.None) continue;
      if (expiry === Expiry.Idle) {
        connection.destroy();
        continue;
      }
      const verdict = clientErrorVerdict('ERR_HTTP_REQUEST_TIMEOUT', expiry === Expiry.Request);
      if (verdict === undefined) continue;
      guarded(verdict.reason);
      connection.refuse(verdict.response);
    }
  };

  private readonly drainSweep = (): void => {
    const now = performance.now();
    for (const connection of this.connections) {
      if (!connection.busy && now - connection.lastActive >= this.drainIdleMs) connection.closeSoon();
    }
  };
}
