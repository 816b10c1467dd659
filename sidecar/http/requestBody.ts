/**
 * Bytes of request body kept for replay (Linkerd's 64 KiB). A request whose body grows past this
 * before the response starts can no longer be retried, even transparently.
 */
export const DEFAULT_REPLAY_LIMIT_BYTES = 64 * 1024;

/**
 * Where the downstream body comes from: a Node stream (an HTTP/2 stream, Node's `IncomingMessage`) or
 * a codec that pushes slices of what it read (the lean HTTP/1.1 engine). Readable's contract: paused
 * until `resume()`, 'data' only while flowing, 'end' once after the last 'data'.
 */
export interface RequestBodySource {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** The writable side of an upstream request (http.ClientRequest, ClientHttp2Stream). */
export interface BodyTarget {
  write(chunk: Buffer): boolean;
  end(): void;
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
}

/**
 * The downstream request body, forwarded to one upstream attempt at a time.
 *
 * Backpressure: when the current target's `write` returns false the downstream source is paused
 * until that target drains, so at most the transport's buffers hold unsent bytes.
 *
 * Replay: until `commit()` (the retry layer accepted a response), every chunk sent is also kept, up to
 * `replayLimit` bytes, so `sendTo()` on a new target re-sends the same bytes first. Past the limit
 * the copy is dropped and `replayable` turns false.
 */
export class RequestBody {
  private readonly source: RequestBodySource | undefined;
  private readonly replayLimit: number;
  private target: BodyTarget | undefined;
  private replay: Buffer[] | undefined = [];
  private replayBytes = 0;
  private listening = false;
  private sourceEnded: boolean;
  private drainTarget: BodyTarget | undefined;
  private completionListeners: Array<() => void> | undefined;
  /** When the last chunk arrived from downstream (`performance.now()`), for the stream idle timeout. */
  lastDataAt = 0;
  /** Body bytes received from the client so far. */
  bytesReceived = 0;

  /**
   * @param source the downstream body stream; undefined for a request without a body.
   * @param empty true when the request head said no body follows (HEADERS with END_STREAM,
   *   Content-Length 0, or an HTTP/1.1 request without body framing).
   */
  constructor(source: RequestBodySource | undefined, readonly empty: boolean, replayLimit = DEFAULT_REPLAY_LIMIT_BYTES) {
    this.source = source;
    this.replayLimit = replayLimit;
    this.sourceEnded = empty || source === undefined;
  }

  static none(): RequestBody {
    return new RequestBody(undefined, true);
  }

  /**
   * Calls `listener` once the downstream has sent the whole body (at once if it has). The route timeout
   * starts here, as Envoy's does: a client still streaming its request is not waiting for a response.
   */
  onComplete(listener: () => void): void {
    if (this.sourceEnded) listener();
    else (this.completionListeners ??= []).push(listener);
  }

  /** Whether a new attempt can still be sent the whole body. */
  get replayable(): boolean {
    return this.replay !== undefined;
  }

  /** Sends the body to `target`, first re-sending whatever earlier attempts already consumed. */
  sendTo(target: BodyTarget): void {
    this.detach();
    this.target = target;
    if (this.replay !== undefined) {
      for (const chunk of this.replay) target.write(chunk);
    }
    if (this.sourceEnded) {
      target.end();
      return;
    }
    const source = this.source as RequestBodySource;
    if (!this.listening) {
      this.listening = true;
      source.on('data', this.onData);
      source.on('end', this.onEnd);
    }
    source.resume();
  }

  /** Stops feeding the current target (its attempt failed); the source waits for the next `sendTo`. */
  detach(): void {
    if (this.drainTarget !== undefined) {
      this.drainTarget.removeListener('drain', this.onDrain);
      this.drainTarget = undefined;
    }
    this.target = undefined;
    if (this.listening && !this.sourceEnded) this.source?.pause();
  }

  /** A response was accepted: no further attempt will be made, so stop keeping a copy. */
  commit(): void {
    this.replay = undefined;
    this.replayBytes = 0;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastDataAt = performance.now();
    this.bytesReceived += chunk.length;
    if (this.replay !== undefined) {
      this.replayBytes += chunk.length;
      if (this.replayBytes > this.replayLimit) this.commit();
      else this.replay.push(chunk);
    }
    const target = this.target;
    if (target === undefined) {
      // Between attempts: hold the source; the chunk is in the replay copy if one is still kept.
      this.source?.pause();
      return;
    }
    if (!target.write(chunk)) {
      this.source?.pause();
      this.drainTarget = target;
      target.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = (): void => {
    this.drainTarget = undefined;
    if (this.target !== undefined) this.source?.resume();
  };

  private readonly onEnd = (): void => {
    this.sourceEnded = true;
    this.target?.end();
    const listeners = this.completionListeners;
    this.completionListeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  };
}
