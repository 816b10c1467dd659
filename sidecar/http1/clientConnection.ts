import type { Socket } from 'node:net';
import type { Headers } from '../http/message.js';
import type { BodyTarget } from '../http/requestBody.js';
import { CHUNK_END, chunkHeader, ChunkedDecoder, LAST_CHUNK, type ChunkSink } from './chunked.js';
import { Http1ParseError } from './fields.js';
import { parseResponseHead, type ResponseHead, type ResponseHeadLimits } from './responseHead.js';

/**
 * One HTTP/1.1 connection to an upstream, spoken by the lean engine: one exchange at a time (no
 * pipelining towards upstreams, as Node's agent), keep-alive, the response body delivered as slices
 * of what the socket read, with backpressure: while the exchange holds the body, what the socket
 * already read stays here, unparsed, and the socket is paused if it reads more.
 */

/** What the connection tells the exchange it carries. Every exchange hears `head` then `end`, or `fail`, once. */
export interface ClientExchange {
  /** The final response head (interim 1xx responses are skipped). Its body, if any, starts paused. */
  head(head: ResponseHead): void;
  data(chunk: Buffer): void;
  end(trailers: Headers | undefined): void;
  /**
   * The exchange failed: a socket error, the upstream closing before the response ended, or a response
   * the engine refuses (`Http1ParseError`). The connection is closed.
   */
  fail(error: Error): void;
}

/** What the pool learns from a connection. */
export interface ConnectionEvents {
  /** The exchange is over and the connection can carry another. */
  idle(connection: ClientConnection): void;
  /** The socket closed. */
  connectionClosed(connection: ClientConnection): void;
  /** Whether the socket may carry another request (its certificate's lifetime). */
  mayReuse(socket: Socket): boolean;
}

export interface ClientConnectionOptions extends ResponseHeadLimits {
  /** An idle connection is closed after this long (the server's `Keep-Alive: timeout` hint, less 1 s, may shorten it). */
  readonly idleTimeoutMs: number;
}

const enum Phase {
  Idle,
  Head,
  Body,
}

/** Node's agent stops reusing a socket this long before the server's advertised keep-alive timeout. */
const KEEP_ALIVE_HINT_MARGIN_MS = 1_000;

export class ClientConnection implements ChunkSink {
  /** Connected (TLS: handshake done): a failure from now on is not a connect failure. */
  connected: boolean;
  /** Requests sent on this connection so far. */
  requests = 0;
  private phase = Phase.Idle;
  private exchange: ClientExchange | undefined;
  private method = 'GET';
  private response: ResponseHead | undefined;
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined;
  /** Bytes read but not yet parsed: a partial head or chunk line, or body held back by backpressure. */
  private buffered: Buffer | undefined;
  private bodyPaused = false;
  /** The socket was paused because body arrived while the body was held. */
  private socketPaused = false;
  /** The upstream sent its FIN. */
  private peerEnded = false;
  private requestEnded = false;
  private error: Error | undefined;

  constructor(
    readonly socket: Socket,
    private readonly options: ClientConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.connected = !socket.connecting;
    if (!this.connected) socket.once((socket as Socket & { encrypted?: boolean }).encrypted === true ? 'secureConnect' : 'connect', () => (this.connected = true));
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
  }

  get paused(): boolean {
    return this.bodyPaused;
  }

  get busy(): boolean {
    return this.exchange !== undefined;
  }

  /**
   * Starts an exchange: writes `head` (a serialized request head) and returns where the request body
   * goes; for a request without one, the head is sent and ended at once.
   */
  send(exchange: ClientExchange, method: string, head: string, chunked: boolean, hasBody: boolean): BodyTarget {
    this.exchange = exchange;
    this.method = method;
    this.phase = Phase.Head;
    this.requests++;
    this.requestEnded = !hasBody;
    if (this.options.idleTimeoutMs > 0) this.socket.setTimeout(0);
    if (!hasBody) {
      this.socket.write(head, 'latin1');
      return ENDED;
    }
    return new RequestWriter(this, this.socket, head, chunked);
  }

  /** The exchange takes the body now (it was paused from the head on), or again after backpressure. */
  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    const buffered = this.buffered;
    if (buffered !== undefined) {
      this.buffered = undefined;
      this.parse(buffered, 0, buffered.length);
    }
    if (this.bodyPaused) return;
    if (this.peerEnded) this.afterEnd();
    else if (this.socketPaused) {
      this.socketPaused = false;
      this.socket.resume();
    }
  }

  /**
   * Holds the body: what is already read waits here, and the socket is paused only if more arrives
   * meanwhile (a response usually arrives whole in one read, so its own pause costs nothing).
   */
  pauseBody(): void {
    this.bodyPaused = true;
  }

  /** Ends the connection, failing the exchange on it if any. */
  destroy(error?: Error): void {
    if (error !== undefined) this.error ??= error;
    this.socket.destroy();
  }

  /** @internal the request's last byte was written. */
  requestDone(): void {
    this.requestEnded = true;
  }

  /** ChunkSink: body bytes from the chunked decoder. */
  data(chunk: Buffer): void {
    this.exchange?.data(chunk);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.phase === Phase.Idle) {
      // Bytes no request asked for: whatever they are, they cannot be trusted to frame a next response.
      this.destroy(new Http1ParseError('HPE_INVALID_CONSTANT', 'data on an idle connection'));
      return;
    }
    const buffered = this.buffered;
    const buf = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
    this.buffered = undefined;
    if (this.bodyPaused) {
      this.buffered = buf;
      this.socketPaused = true;
      this.socket.pause();
      return;
    }
    this.parse(buf, 0, buf.length);
  };

  private parse(buf: Buffer, start: number, end: number): void {
    let pos = start;
    try {
      while (pos < end && this.exchange !== undefined) {
        if (this.phase === Phase.Head) {
          const parsed = parseResponseHead(buf, pos, end, this.method, this.options);
          if (parsed === undefined) break;
          pos = parsed.next;
          const { head } = parsed;
          if (head.status < 200) {
            if (head.status === 101) throw new Http1ParseError('HPE_PAUSED_UPGRADE', 'upgrade not requested');
            continue; // interim (RFC 9110 §15.2): the final response follows
          }
          this.startBody(head);
          if ((this.phase as Phase) === Phase.Idle) break; // a bodiless response completed
          continue;
        }
        if (this.bodyPaused) break;
        const response = this.response as ResponseHead;
        if (response.framing.kind === 'chunked') {
          const decoder = this.decoder as ChunkedDecoder;
          pos = decoder.decode(buf, pos, end, this);
          if (decoder.done) this.complete(decoder.trailers);
          else if (!this.bodyPaused) break; // a cut size line or trailer section: wait for more
          continue;
        }
        if (response.framing.kind === 'close') {
          this.exchange.data(buf.subarray(pos, end));
          pos = end;
          continue;
        }
        const take = Math.min(this.remaining, end - pos);
        this.remaining -= take;
        const chunk = buf.subarray(pos, pos + take);
        pos += take;
        if (this.remaining === 0) {
          this.exchange.data(chunk);
          this.complete(undefined);
        } else this.exchange.data(chunk);
      }
    } catch (error) {
      this.destroy(error as Error);
      return;
    }
    if (pos >= end) return;
    if (this.exchange === undefined) {
      // More than the response held: a server that says more than it framed cannot be read further.
      this.destroy(new Http1ParseError('HPE_INVALID_CONSTANT', 'data after the response'));
      return;
    }
    this.buffered = buf.subarray(pos, end);
  }

  private startBody(head: ResponseHead): void {
    this.response = head;
    const { framing } = head;
    const exchange = this.exchange as ClientExchange;
    if (framing.kind === 'none') {
      exchange.head(head);
      this.complete(undefined);
      return;
    }
    this.phase = Phase.Body;
    if (framing.kind === 'length') this.remaining = framing.length;
    else if (framing.kind === 'chunked') this.decoder = new ChunkedDecoder(this.options.maxHeadBytes);
    this.pauseBody(); // until the exchange takes it
    exchange.head(head);
  }

  /** The response ended: the connection goes back to the pool before the exchange hears it, so the next request can take it. */
  private complete(trailers: Headers | undefined): void {
    const exchange = this.exchange as ClientExchange;
    const response = this.response as ResponseHead;
    this.exchange = undefined;
    this.response = undefined;
    this.decoder = undefined;
    this.phase = Phase.Idle;
    this.bodyPaused = false;
    const idleMs = this.reusableFor(response);
    if (idleMs !== undefined) {
      if (idleMs > 0) this.socket.setTimeout(idleMs);
      if (this.socketPaused) {
        this.socketPaused = false;
        this.socket.resume();
      }
      this.events.idle(this);
    } else this.socket.destroySoon();
    exchange.end(trailers);
  }

  /** How long the connection may wait idle for its next request, or undefined if it cannot take one. */
  private reusableFor(response: ResponseHead): number | undefined {
    if (!response.keepAlive || !this.requestEnded || this.peerEnded || this.socket.destroyed || !this.events.mayReuse(this.socket)) return undefined;
    let idleMs = this.options.idleTimeoutMs;
    if (response.keepAliveTimeoutS !== undefined) {
      const hinted = response.keepAliveTimeoutS * 1000 - KEEP_ALIVE_HINT_MARGIN_MS;
      if (hinted <= 0) return undefined;
      if (idleMs <= 0 || hinted < idleMs) idleMs = hinted;
    }
    return idleMs;
  }

  /** The upstream's FIN: once what was read before it is parsed, it ends a body read to the close, or fails the exchange. */
  private readonly onEnd = (): void => {
    this.peerEnded = true;
    if (!this.bodyPaused || this.buffered === undefined) this.afterEnd();
  };

  private afterEnd(): void {
    if (this.phase === Phase.Body && this.response?.framing.kind === 'close') this.complete(undefined);
    this.socket.destroy();
  }

  private readonly onError = (error: Error): void => {
    this.error ??= error;
  };

  private readonly onTimeout = (): void => {
    if (this.phase === Phase.Idle) this.socket.destroy();
  };

  private readonly onClose = (): void => {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.phase = Phase.Idle;
    this.buffered = undefined;
    if (exchange !== undefined) exchange.fail(this.error ?? hangUp());
    this.events.connectionClosed(this);
  };
}

/** Node's words for a connection that closed under an exchange. */
function hangUp(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

/** A request without a body: nothing to write. */
const ENDED: BodyTarget = {
  write: () => true,
  end: () => undefined,
  once: () => undefined,
  removeListener: () => undefined,
};

/**
 * The request body's way to the socket: the head goes out with the first chunk (one write, as Node's
 * client does), each chunk framed when the body is chunked. A connection already closed takes writes
 * and drops them; its exchange has failed.
 */
class RequestWriter implements BodyTarget {
  private head: string | undefined;

  constructor(
    private readonly connection: ClientConnection,
    private readonly socket: Socket,
    head: string,
    private readonly chunked: boolean,
  ) {
    this.head = head;
  }

  write(chunk: Buffer): boolean {
    const { socket } = this;
    if (socket.destroyed) return true;
    if (chunk.length === 0) return true;
    socket.cork();
    this.flushHead();
    if (this.chunked) socket.write(chunkHeader(chunk.length), 'latin1');
    socket.write(chunk);
    const more = this.chunked ? socket.write(CHUNK_END, 'latin1') : socket.writableLength < socket.writableHighWaterMark;
    socket.uncork();
    return more && socket.writableLength < socket.writableHighWaterMark;
  }

  end(): void {
    const { socket } = this;
    if (socket.destroyed) return;
    socket.cork();
    this.flushHead();
    if (this.chunked) socket.write(LAST_CHUNK, 'latin1');
    socket.uncork();
    this.connection.requestDone();
  }

  once(event: 'drain', listener: () => void): unknown {
    return this.socket.once(event, listener);
  }

  removeListener(event: 'drain', listener: () => void): unknown {
    return this.socket.removeListener(event, listener);
  }

  private flushHead(): void {
    if (this.head === undefined) return;
    this.socket.write(this.head, 'latin1');
    this.head = undefined;
  }
}
