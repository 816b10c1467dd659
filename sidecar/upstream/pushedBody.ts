import type { TandemError } from '../core/errors.js';
import type { BodyResult, Headers, ResponseBody, ResponseSink } from '../http/message.js';
import { deliver } from './streamedBody.js';

/**
 * A response body its codec pushes chunk by chunk (the lean HTTP/1.1 engine), where `StreamedBody`
 * reads a Node stream. The codec holds the source paused until `pipe()`, so nothing is read that the
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

  complete(trailers: Headers | undefined): void {
    this.finish(trailers, undefined);
  }

  fail(error: TandemError): void {
    this.finish(undefined, error);
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
