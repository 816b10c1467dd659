import type { Readable } from 'node:stream';
import type { TandemError } from '../core/errors.js';
import type { BodyResult, Headers, ResponseBody, ResponseSink } from '../http/message.js';

/**
 * A response body read from an upstream Node stream (HTTP/2 stream or HTTP/1.1 IncomingMessage).
 *
 * The stream stays paused until `pipe()`, so nothing is read that the downstream is not ready for:
 * unread bytes stay in the transport, where HTTP/2 flow control or TCP holds the upstream back.
 * Protocol specifics (trailers, how a failure looks, how to reset) live in the pool that creates it.
 */
export class StreamedBody implements ResponseBody {
  private sink: ResponseSink | undefined;
  private observers: Array<(result: BodyResult) => void> | undefined;
  private result: BodyResult | undefined;

  /**
   * @param stream the upstream body stream.
   * @param resetUpstream stops the upstream exchange (RST_STREAM(CANCEL), or closing the HTTP/1.1 socket).
   * @param release called once when the body is done either way (frees the cancellation hook).
   */
  constructor(
    private readonly stream: Readable,
    private readonly resetUpstream: () => void,
    private readonly release: () => void,
  ) {}

  pipe(sink: ResponseSink): void {
    if (this.result !== undefined) {
      deliver(sink, this.result);
      return;
    }
    this.sink = sink;
    this.stream.on('data', this.onData);
    this.stream.resume();
  }

  resume(): void {
    if (this.result === undefined) this.stream.resume();
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

  /** The body completed normally; the pool calls this on the stream's end. */
  complete(trailers: Headers | undefined): void {
    this.finish(trailers, undefined);
  }

  /** The body failed; the pool calls this when the stream closes without completing. */
  fail(error: TandemError): void {
    this.finish(undefined, error);
  }

  get finished(): boolean {
    return this.result !== undefined;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.sink !== undefined && !this.sink.data(chunk)) this.stream.pause();
  };

  private finish(trailers: Headers | undefined, error: TandemError | undefined): void {
    if (this.result !== undefined) return;
    const result: BodyResult = { trailers, error };
    this.result = result;
    this.stream.off('data', this.onData);
    this.release();
    const observers = this.observers;
    this.observers = undefined;
    if (observers !== undefined) for (const observer of observers) observer(result);
    const sink = this.sink;
    this.sink = undefined;
    if (sink !== undefined) deliver(sink, result);
  }
}

/** Ends `sink` as the body ended: its trailers, or its error. */
export function deliver(sink: ResponseSink, result: BodyResult): void {
  if (result.error === undefined) sink.end(result.trailers);
  else sink.fail(result.error);
}
