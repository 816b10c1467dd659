import type { TandemError } from '../core/errors.js';
import type { RequestContext } from './context.js';
import type { ProxyRequest } from './request.js';

/** Header names are lower case; pseudo-headers (`:path`) never appear here. */
export type Headers = Record<string, string | string[] | undefined>;

export type HttpVersion = 'http1' | 'http2';

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

/**
 * A service answers a request with a response head whose body streams later. `request` is what the
 * request is; `context` is what the stack learns while serving it (see `RequestContext`).
 */
export type Service = (request: ProxyRequest, context: RequestContext) => Promise<ProxyResponse>;

/** A layer wraps a service with one concern (deadline, retry, balancing…). */
export type Layer = (inner: Service) => Service;

/** Builds a service from layers listed outermost first, so a stack reads top to bottom. */
export function stack(layers: readonly Layer[], innermost: Service): Service {
  let service = innermost;
  for (let i = layers.length - 1; i >= 0; i--) service = (layers[i] as Layer)(service);
  return service;
}
