import type { TandemError } from '../core/errors.js';
import type { BodyResult, Headers, ResponseBody, ResponseSink } from '../http/message.js';

/**
 * The codec's side of a `PushedBody`: an object, not four callbacks, so that the exchange a body
 * belongs to can be its source without allocating a closure for each (they are made per response).
 */
export interface BodySource {
  /** Lets the codec deliver (again). */
  resumeBody(): void;
  /** Stops it delivering after the chunk in hand. */
  pauseBody(): void;
  /** Stops the upstream exchange (RST_STREAM(CANCEL), closing the HTTP/1.1 connection). */
  resetUpstream(): void;
  /** Called once when the body is done either way (frees the exchange's hooks). */
  bodyDone(): void;
}

/**
 * A response body its codec pushes chunk by chunk (the lean HTTP/1.1 engine, the HTTP/2 pool;
 * `StreamedBody` pushes a Node stream's chunks). The codec holds the source paused until `pipe()`, so
 * nothing is read that the downstream is not ready for; a sink that says it is full pauses the source
 * again until `resume()`.
 */
export class PushedBody implements ResponseBody {
  private sink: ResponseSink | undefined;
  private observers: Array<(result: BodyResult) => void> | undefined;
  private result: BodyResult | undefined;

  constructor(private readonly source: BodySource) {}

  pipe(sink: ResponseSink): void {
    if (this.result !== undefined) {
      deliver(sink, this.result);
      return;
    }
    this.sink = sink;
    this.source.resumeBody();
  }

  resume(): void {
    if (this.result === undefined) this.source.resumeBody();
  }

  abort(error: TandemError): void {
    if (this.result !== undefined) return;
    this.sink = undefined;
    this.source.resetUpstream();
    this.finish(undefined, error);
  }

  onFinish(listener: (result: BodyResult) => void): void {
    if (this.result !== undefined) listener(this.result);
    else (this.observers ??= []).push(listener);
  }

  /** The codec's next chunk. */
  push(chunk: Buffer): void {
    if (this.sink !== undefined && !this.sink.data(chunk)) this.source.pauseBody();
  }

  /** The body completed normally. */
  complete(trailers: Headers | undefined): void {
    this.finish(trailers, undefined);
  }

  /** The body failed before completing. */
  fail(error: TandemError): void {
    this.finish(undefined, error);
  }

  get finished(): boolean {
    return this.result !== undefined;
  }

  private finish(trailers: Headers | undefined, error: TandemError | undefined): void {
    if (this.result !== undefined) return;
    const result: BodyResult = { trailers, error };
    this.result = result;
    this.source.bodyDone();
    const observers = this.observers;
    this.observers = undefined;
    if (observers !== undefined) for (const observer of observers) observer(result);
    const sink = this.sink;
    this.sink = undefined;
    if (sink !== undefined) deliver(sink, result);
  }
}

function deliver(sink: ResponseSink, result: BodyResult): void {
  if (result.error === undefined) sink.end(result.trailers);
  else sink.fail(result.error);
}
