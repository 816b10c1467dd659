import type { BalancerEndpoint, BalancerHelper, Picker } from '../../sidecar/balancer/balancer.js';
import type { TandemError } from '../../sidecar/core/errors.js';
import { RequestContext } from '../../sidecar/http/context.js';
import type { BodyResult, ProxyResponse, ResponseBody, ResponseSink, Service } from '../../sidecar/http/message.js';
import { ProxyRequest, type RequestHead } from '../../sidecar/http/request.js';
import { RequestBody } from '../../sidecar/http/requestBody.js';
import type { ConnectionPool, PoolStats } from '../../sidecar/upstream/pool.js';

/** A deterministic random source (mulberry32), so balancer tests are repeatable. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An endpoint for policy tests; tests set `activeRequests` and `effectiveWeight` directly. */
export interface FakeEndpoint {
  readonly id: string;
  readonly weight: number;
  effectiveWeight: number;
  activeRequests: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export function fakeEndpoint(id: string, weight = 1): FakeEndpoint {
  return { id, weight, effectiveWeight: weight, activeRequests: 0, metadata: {} };
}

/**
 * A balancer helper that keeps the last published picker.
 * @param totalActiveRequests what the cluster would report as in flight over the upstream.
 */
export function recordingHelper<E extends BalancerEndpoint>(
  random = seededRandom(1),
  totalActiveRequests: () => number = () => 0,
): BalancerHelper<E> & { picker(): Picker<E> } {
  let current: Picker<E> | undefined;
  return {
    publish: (picker) => (current = picker),
    random,
    now: () => 0,
    totalActiveRequests,
    picker: () => {
      if (current === undefined) throw new Error('nothing published');
      return current;
    },
  };
}

/** A connection pool that records its lifecycle and never connects. */
export class FakePool implements ConnectionPool {
  closed = false;
  destroyed = false;
  goneAway = false;
  dispatch(): never {
    throw new Error('FakePool does not dispatch');
  }
  stats(): PoolStats {
    return { connections: 0, activeRequests: 0 };
  }
  close(): void {
    this.closed = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

export interface FakeRequestInit extends Partial<RequestHead> {
  /** Sends `content-type: application/grpc`, which is what makes a request a gRPC call. */
  readonly grpc?: boolean;
  readonly body?: RequestBody;
  readonly peerAddress?: string;
  readonly receivedAt?: number;
}

/** A request as the listeners build it, through the same constructor, for layer tests. */
export function fakeRequest(init: FakeRequestInit = {}): ProxyRequest {
  const headers = { ...(init.grpc === true ? { 'content-type': 'application/grpc' } : {}), ...init.headers };
  return new ProxyRequest(
    { method: init.method ?? 'GET', scheme: init.scheme, authority: init.authority ?? 'web', path: init.path ?? '/', headers },
    init.body ?? RequestBody.none(),
    { protocol: 'http1', scheme: 'http', peer: { address: init.peerAddress ?? '127.0.0.1', port: 40_000, identity: undefined } },
    init.receivedAt ?? 0,
  );
}

/**
 * A response body a test drives by hand: it records the sink it is piped into and any abort;
 * `send()` delivers a chunk, `finish()` ends it (observers first, then the sink, as a real body does).
 */
export class FakeResponseBody implements ResponseBody {
  sink: ResponseSink | undefined;
  pipes = 0;
  aborted: TandemError | undefined;
  private readonly finishListeners: Array<(result: BodyResult) => void> = [];

  pipe(sink: ResponseSink): void {
    this.pipes++;
    this.sink = sink;
  }
  resume(): void {}
  abort(error: TandemError): void {
    this.aborted = error;
  }
  onFinish(listener: (result: BodyResult) => void): void {
    this.finishListeners.push(listener);
  }
  send(text: string): void {
    this.sink?.data(Buffer.from(text));
  }
  finish(): void {
    for (const listener of this.finishListeners) listener({ trailers: undefined, error: undefined });
    this.sink?.end(undefined);
  }
}

/** Calls `service` as a listener would: with the request and a fresh context, unless given. */
export function send(service: Service, request: ProxyRequest = fakeRequest(), context: RequestContext = new RequestContext()): Promise<ProxyResponse> {
  return service(request, context);
}
