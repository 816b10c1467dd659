import { formatDurationMs } from '../core/duration.js';
import { ErrorCode, TandemError } from '../core/errors.js';
import { parseGrpcTimeoutMs } from '../http/grpc.js';
import type { RequestContext } from '../http/context.js';
import type { Headers, Layer, ProxyResponse, ResponseBody, ResponseSink } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';

export interface TimeoutSettings {
  readonly upstream: string;
  /**
   * The route timeout: from the end of the request to the response head, every attempt included;
   * 0 turns it off. It never covers a response body, so it cannot cut a stream that has started.
   */
  readonly timeoutMs: number;
  /** Nothing moving either way for this long ends the exchange; 0 turns it off. */
  readonly streamIdleTimeoutMs: number;
}

/**
 * Every clock an exchange runs against, on one timer:
 *
 * - the client's deadline (`grpc-timeout`), covering the whole call; the remaining time goes upstream
 *   with each attempt, and a deadline already gone fails here without dialling;
 * - the route `timeout`, from the moment the request has been sent in full (Envoy's start point, so a
 *   client-streaming call is never timed while it streams) to the response head. Unary responses come
 *   with their head — a gRPC server sends headers with the reply — while a streaming response's head
 *   comes with its first message: so unary calls are bounded and streams are not, without Tandem having
 *   to know which methods stream (anchor-features §2.10; Envoy's 15 s route timeout kills streams);
 * - `stream_idle_timeout`, reset by every chunk either way, for the life of the exchange.
 *
 * Whichever runs out cancels the request with its own error: before the head the client gets it as a
 * local reply, after it the body fails with it (a gRPC client reads the status in the trailers).
 */
export function timeout(settings: TimeoutSettings): Layer {
  return (inner) => async (request, context) => {
    if (request.grpc) {
      const timeoutMs = parseGrpcTimeoutMs(request.headers['grpc-timeout']);
      if (timeoutMs !== undefined) context.limitDeadline(request.receivedAt + timeoutMs);
    }
    if (context.deadline <= performance.now()) throw deadlineExceeded(settings.upstream, request, context);
    if (context.deadline === Infinity && settings.timeoutMs === 0 && settings.streamIdleTimeoutMs === 0) return inner(request, context);
    const clock = new ExchangeClock(settings, request, context);
    let response: ProxyResponse;
    try {
      response = await inner(request, context);
    } catch (error) {
      clock.stop();
      throw error;
    }
    return clock.responded(response);
  };
}

class ExchangeClock {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private responseDataAt = 0;
  private stopped = false;
  private headArrived = false;

  constructor(
    private readonly settings: TimeoutSettings,
    private readonly request: ProxyRequest,
    private readonly context: RequestContext,
  ) {
    if (settings.timeoutMs > 0) {
      request.body.onComplete(() => {
        // A body that ends after the head (a bidi stream half-closing) must not start the route timeout.
        if (this.stopped || this.headArrived) return;
        context.setHeadDeadline(performance.now() + settings.timeoutMs);
        this.schedule();
      });
    }
    this.schedule();
  }

  /** The head arrived: the route timeout is done; the body is watched until it ends. */
  responded(response: ProxyResponse): ProxyResponse {
    this.headArrived = true;
    this.context.setHeadDeadline(Infinity);
    if (this.stopped) return response;
    if (this.context.deadline === Infinity && this.settings.streamIdleTimeoutMs === 0) {
      this.stop();
      return response;
    }
    response.body.onFinish(() => this.stop());
    this.schedule();
    return { ...response, body: new WatchedBody(response.body, this) };
  }

  /** A chunk of the response is on its way to the client: the stream is not idle. */
  sawResponseData(): void {
    this.responseDataAt = performance.now();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The earliest moment something may run out; the timer is moved only when that moves earlier. */
  private nextCheck(): number {
    const { context, settings } = this;
    let at = context.giveUpAt;
    if (settings.streamIdleTimeoutMs > 0) at = Math.min(at, this.lastActivity() + settings.streamIdleTimeoutMs);
    return at;
  }

  private lastActivity(): number {
    return Math.max(this.request.receivedAt, this.request.body.lastDataAt, this.responseDataAt);
  }

  private schedule(): void {
    if (this.stopped) return;
    const at = this.nextCheck();
    if (at === Infinity || (this.timer !== undefined && this.timerAt <= at)) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, at - performance.now()));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    const now = performance.now();
    const { request, context, settings } = this;
    let error: TandemError | undefined;
    if (now >= context.deadline) error = deadlineExceeded(settings.upstream, request, context);
    else if (now >= context.headDeadline) {
      error = new TandemError(ErrorCode.UpstreamTimeout, `upstream "${settings.upstream}": no response within the route timeout (${formatDurationMs(settings.timeoutMs)})`, {
        upstream: settings.upstream,
      });
    } else if (settings.streamIdleTimeoutMs > 0 && now - this.lastActivity() >= settings.streamIdleTimeoutMs) {
      error = new TandemError(
        ErrorCode.StreamIdleTimeout,
        `upstream "${settings.upstream}": nothing sent either way for ${formatDurationMs(settings.streamIdleTimeoutMs)} (stream_idle_timeout)`,
        { upstream: settings.upstream },
      );
    }
    if (error === undefined) {
      this.schedule(); // activity moved the idle instant on
      return;
    }
    this.stop();
    this.context.cancellation.cancel(error);
  };
}

function deadlineExceeded(upstream: string, request: ProxyRequest, context: RequestContext): TandemError {
  const given = context.deadline - request.receivedAt;
  return new TandemError(ErrorCode.DeadlineExceeded, `upstream "${upstream}": deadline exceeded (the client's ${Math.round(given)} ms)`, { upstream });
}

/**
 * A response body that reports each chunk on its way to the downstream, for the idle clock: the sink
 * its inner body delivers into, so that watching costs one object per response, not a closure per
 * method.
 */
class WatchedBody implements ResponseBody, ResponseSink {
  private sink: ResponseSink | undefined;

  constructor(
    private readonly inner: ResponseBody,
    private readonly clock: ExchangeClock,
  ) {}

  pipe(sink: ResponseSink): void {
    this.sink = sink;
    this.inner.pipe(this);
  }

  data(chunk: Buffer): boolean {
    this.clock.sawResponseData();
    return (this.sink as ResponseSink).data(chunk);
  }

  end(trailers: Headers | undefined): void {
    this.sink?.end(trailers);
  }

  fail(error: TandemError): void {
    this.sink?.fail(error);
  }

  resume(): void {
    this.inner.resume();
  }

  abort(error: TandemError): void {
    this.inner.abort(error);
  }

  onFinish(listener: Parameters<ResponseBody['onFinish']>[0]): void {
    this.inner.onFinish(listener);
  }
}
