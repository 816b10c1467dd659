import type { Cancellation } from '../core/cancellation.js';
import type { TandemError } from '../core/errors.js';
import type { RequestBody } from './requestBody.js';

/** Header names are lower case; pseudo-headers (`:path`) never appear here. */
export type Headers = Record<string, string | string[] | undefined>;

export type HttpVersion = 'http1' | 'http2';

/**
 * One request as it travels the stack, independent of the protocol it arrived on.
 * Listeners build it from the downstream exchange; pools turn it into an upstream exchange.
 */
export interface ProxyRequest {
  readonly method: string;
  /** `:scheme` the client used towards Tandem. */
  readonly scheme: string;
  /** `:authority`, or the Host header for HTTP/1.1. Forwarded unchanged (Envoy's default). */
  readonly authority: string;
  /** Path and query, as received. */
  readonly path: string;
  /** End-to-end headers for the upstream: hop-by-hop headers removed, forwarding headers set. */
  readonly headers: Headers;
  readonly body: RequestBody;
  /** The request is a gRPC call (`content-type: application/grpc…`); local errors use gRPC status. */
  readonly grpc: boolean;
  readonly downstreamVersion: HttpVersion;
  /** The downstream peer's IP address. */
  readonly peerAddress: string | undefined;
  /**
   * Cancelled when the downstream goes away or a timeout ends the exchange. The retry layer replaces
   * it with a child per attempt, so a per-try timeout ends that attempt alone; pools hook whichever
   * is current when they dispatch.
   */
  cancellation: Cancellation;
  /** When the request head arrived, on the `performance.now()` clock. */
  readonly receivedAt: number;
  /**
   * The client's deadline (`grpc-timeout`) for the whole exchange, absolute on the `performance.now()`
   * clock; `Infinity` when there is none. What remains of it is sent upstream with each attempt.
   */
  deadline: number;
  /** When the route `timeout` runs out for the response head (all attempts); `Infinity` until armed or when off. */
  headDeadline: number;
  /** Times the request has been sent upstream so far (each attempt, transparent resends included). */
  attempts: number;
  /** Endpoint ids earlier attempts used; the balancer prefers others. */
  readonly tried: Set<string>;
  /** Hash of the request's affinity key (hash policy), for the hashing balancers; see `PickContext`. */
  hashKey: number | undefined;
  /** An endpoint id a stateful session cookie asks for; honoured while that endpoint may take traffic. */
  preferredEndpoint: string | undefined;
  /** The endpoint the latest attempt went to. */
  endpoint: string | undefined;
}

/** The response head from upstream, with a body that streams afterwards. */
export interface ProxyResponse {
  readonly status: number;
  /** End-to-end response headers (no `:status`, no hop-by-hop headers). */
  readonly headers: Headers;
  /**
   * Nothing follows the headers: a gRPC trailers-only response, a HEAD or 204/304 response, or an
   * empty body. The downstream HEADERS frame then carries END_STREAM, exactly as upstream sent it.
   */
  readonly endStream: boolean;
  readonly body: ResponseBody;
}

/** How a response body finished, for observers such as outcome recording. */
export interface BodyResult {
  readonly trailers: Headers | undefined;
  /** Set when the body did not complete (upstream reset, downstream cancel, timeout). */
  readonly error: TandemError | undefined;
}

/** Where a response body goes: the downstream side implements this. */
export interface ResponseSink {
  /**
   * Accepts one chunk. Returning false says the downstream is full: the body then stops delivering
   * until the sink calls `ResponseBody.resume()`. This is the whole of response backpressure.
   */
  data(chunk: Buffer): boolean;
  /** The body completed; `trailers` are the upstream's trailers, if any. */
  end(trailers: Headers | undefined): void;
  /** The body failed after the head was delivered. */
  fail(error: TandemError): void;
}

export interface ResponseBody {
  /** Starts delivering into `sink`. Called exactly once, after the head has been forwarded. */
  pipe(sink: ResponseSink): void;
  /** The sink has room again after `data()` returned false. */
  resume(): void;
  /** Stops the body and resets the upstream stream; the sink is not told. */
  abort(error: TandemError): void;
  /** Registers an observer of the body's end. Observers run before the sink's `end`/`fail`. */
  onFinish(listener: (result: BodyResult) => void): void;
}

/** A service answers a request with a response head whose body streams later. */
export type Service = (request: ProxyRequest) => Promise<ProxyResponse>;

/** A layer wraps a service with one concern (deadline, retry, balancing…). */
export type Layer = (inner: Service) => Service;

/** Builds a service from layers listed outermost first, so a stack reads top to bottom. */
export function stack(layers: readonly Layer[], innermost: Service): Service {
  let service = innermost;
  for (let i = layers.length - 1; i >= 0; i--) service = (layers[i] as Layer)(service);
  return service;
}
