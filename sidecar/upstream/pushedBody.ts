import type { TandemError } from '../core/errors.js';
import type { BodyResult, Headers, ResponseBody, ResponseSink } from '../http/message.js';

/**
 * A response body its codec pushes chunk by chunk (the lean HTTP/1.1 engine; `StreamedBody` pushes a
 * Node stream's chunks). The codec holds the source paused until `pipe()`, so nothing is read that the
 * downstream is not ready for; a sink that says it is full pauses the source again until `resume()`.
 */
export class PushedBody implements ResponseBody {
  private sink: ResponseSink | undefined;
  private observers: Array<(result: BodyResult) => void> | undefined;
  private result: BodyResult | undefined;

  /**
   * @param resumeSource lets the codec deliver (again).
   * @param pauseSource stops it delivering after the chunk in hand.
   * @param resetUpstream stops the upstream exchange (closes the HTTP/1.1 connection).
   * @param release called once when the body is done either way.
   */
  constructor(
    private readonly resumeSource: () => void,
    private readonly pauseSource: () => void,
    private readonly resetUpstream: () => void,
    private readonly release: () => void,
  ) {}

  pipe(sink: ResponseSink): void {
    if (this.result !== undefined) {
      deliver(sink, this.result);
      return;
    }
    this.sink = sink;
    this.resumeSource();
  }

  resume(): void {
    if (this.result === undefined) this.resumeSource();
  }

  abort(error: TandemError): void {
    if (this.result !== undefined) return;
    this.sink = undefined;
    this.resetUpstream();
    this.finish(undefined, error);
  }

  onFinish(listener: (result: BodyResult) => void): void {
    if (this.result !== undefined) listener(this.result);
    else (this.observers ??= []).push(listener);
  }

  /** The codec's next chunk. */
  push(chunk: Buffer): void {
    if (this.sink !== undefined && !this.sink.data(chunk)) this.pauseSource();
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
    this.release();
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
