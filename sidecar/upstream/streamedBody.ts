import type { Readable } from 'node:stream';
import { PushedBody, type BodySource } from './pushedBody.js';

/**
 * A response body read from an upstream Node stream (HTTP/2 stream or HTTP/1.1 IncomingMessage): a
 * `PushedBody` the stream's chunks are pushed into.
 *
 * The stream stays paused until `pipe()`, so nothing is read that the downstream is not ready for:
 * unread bytes stay in the transport, where HTTP/2 flow control or TCP holds the upstream back.
 * Protocol specifics (trailers, how a failure looks, how to reset) live in the pool that creates it,
 * which calls `complete()` on the stream's end and `fail()` when it closes without completing.
 */
export class StreamedBody extends PushedBody {
  /**
   * @param stream the upstream body stream.
   * @param resetUpstream stops the upstream exchange (RST_STREAM(CANCEL), or closing the HTTP/1.1 socket).
   * @param release called once when the body is done either way (frees the cancellation hook).
   */
  constructor(stream: Readable, resetUpstream: () => void, release: () => void) {
    const source = new StreamSource(stream, resetUpstream, release);
    super(source);
    source.body = this;
  }
}

/** A Node stream as a body's source: chunks pushed from 'data' once the body is piped. */
class StreamSource implements BodySource {
  body: StreamedBody | undefined;
  private reading = false;

  constructor(
    private readonly stream: Readable,
    readonly resetUpstream: () => void,
    private readonly release: () => void,
  ) {}

  private readonly onData = (chunk: Buffer): void => this.body?.push(chunk);

  resumeBody(): void {
    if (!this.reading) {
      this.reading = true;
      this.stream.on('data', this.onData);
    }
    this.stream.resume();
  }

  pauseBody(): void {
    this.stream.pause();
  }

  bodyDone(): void {
    this.stream.off('data', this.onData);
    this.release();
  }
}
