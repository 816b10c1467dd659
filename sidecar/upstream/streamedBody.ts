import type { Readable } from 'node:stream';
import { PushedBody } from './pushedBody.js';

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
    const self: { body?: StreamedBody } = {};
    const onData = (chunk: Buffer): void => self.body?.push(chunk);
    let reading = false;
    super(
      () => {
        if (!reading) {
          reading = true;
          stream.on('data', onData);
        }
        stream.resume();
      },
      () => stream.pause(),
      resetUpstream,
      () => {
        stream.off('data', onData);
        release();
      },
    );
    self.body = this;
  }
}
