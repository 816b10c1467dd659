import type { Duplex } from 'node:stream';
import { ChunkedDecoder, type ChunkSink } from './chunked.js';
import { Http1ParseError } from './fields.js';
import { checkReadAhead } from './readAhead.js';
import { BodyFraming, checkMethodSoFar, parseRequestHead, scanHead, type ParsedRequestHead } from './requestParser.js';
import type { ResponseFraming } from './responseWriter.js';

/**
 * One downstream HTTP/1.1 connection of the lean engine: reads request heads and bodies off the raw
 * stream the acceptor handed over (a socket, or a TLS socket, through the public Duplex API only) and
 * writes one response at a time. Requests are served in order, one at a time (RFC 9112 §9.3.2):
 * pipelined bytes wait, with the stream paused, until the response before them has finished.
 *
 * Bounded buffering: the bytes held are at most one head's limit (431 past it) plus one read; a body
 * its consumer has paused, or a pipelined request, pauses the stream until they are taken. No timers:
 * the engine's sweep asks `expired()` (Node's `connectionsCheckingInterval` does the same).
 */

export interface ServerConnectionOwner {
  /**
   * A request head arrived. The owner answers through `respond*` (now or later) and, for a request
   * with a body, takes the body with `readBody`.
   */
  request(connection: ServerConnection, head: ParsedRequestHead): void;
  /** What the client sent cannot be parsed; the owner answers with `refuse` (the stream is closed after). */
  malformed(connection: ServerConnection, error: Http1ParseError): void;
  /** The stream closed; `cancelled` when a response was still owed. */
  closed(connection: ServerConnection, cancelled: boolean): void;
}

/** Where a request body goes: chunks as slices of what was read, then the end. */
export interface RequestBodySink {
  data(chunk: Buffer): void;
  end(): void;
}

/** A response body waiting for the stream to take more. */
export interface DrainWaiter {
  drained(): void;
}

export interface ServerConnectionLimits {
  readonly maxHeadBytes: number;
  /** Fields kept in `headers` (more are counted). */
  readonly maxFields: number;
}

const enum Reading {
  /** Waiting for (the rest of) a head. */
  Head,
  /** A request body is arriving. */
  Body,
  /** The request has been read; later bytes wait for its response. */
  Done,
  /** Nothing more is read: the connection closes after what it is writing. */
  Stopped,
}

/** What `expired` found. */
export const enum Expiry {
  None,
  /** The head did not arrive within `request_headers_timeout`. */
  Head,
  /** The request, body included, did not arrive within `request_timeout`. */
  Request,
  /** No request for `idle_timeout`. */
  Idle,
}

const EMPTY = Buffer.alloc(0);

export class ServerConnection implements ChunkSink {
  private reading = Reading.Head;
  private held: Buffer = EMPTY;
  private pos = 0;
  /** Where the search for the head's end resumes in `held` (a line start). */
  private scanned = 0;
  /** When the message being read began (`performance.now()`); 0 between messages. */
  private messageStart: number;
  /** When the connection last finished a response or began a request, for idle and drain sweeps. */
  lastActive: number;
  /** A request is being served: its response has not finished. */
  private exchange = false;
  /** The response head, kept to go out with the first body bytes (as Node's `ServerResponse` does). */
  private pendingHead: string | undefined;
  private framing: ResponseFraming | undefined;
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined;
  private bodySink: RequestBodySink | undefined;
  /** The body's consumer asked for no more for now. */
  paused = true;
  private processing = false;
  private closed = false;
  /** The response's consumer is waiting for 'drain'. */
  private waiter: DrainWaiter | undefined;
  /** The last request said the connection closes after it (RFC 9112 §9.6): no request may follow it. */
  private last = false;
  /** Where in `held` the messages already checked by `checkReadAhead` end (a message boundary). */
  private checked = 0;

  constructor(
    readonly stream: Duplex,
    private readonly owner: ServerConnectionOwner,
    private readonly limits: ServerConnectionLimits,
    now: number,
  ) {
    this.messageStart = now;
    this.lastActive = now;
    // One set of listeners for every connection, finding theirs on the stream: no closures per connection.
    (stream as OwnedStream)[CONNECTION] = this;
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('drain', onStreamDrain);
    stream.on('error', ignore);
    stream.once('close', onStreamClose);
  }

  /** Bytes held wait for a consumer (a paused body, the response before a pipelined request), not for more bytes. */
  private get blocked(): boolean {
    return this.reading === Reading.Done || (this.reading === Reading.Body && this.paused);
  }

  /** A request is being served: its response has not finished. */
  get busy(): boolean {
    return this.exchange;
  }

  /** The response to the current request has begun (its head went out, or is about to). */
  get responding(): boolean {
    return this.framing !== undefined;
  }

  get gone(): boolean {
    return this.closed;
  }

  // ---- reading ----

  /** The stream's 'data'. */
  received(chunk: Buffer): void {
    if (this.reading === Reading.Stopped) return; // the connection is closing: nothing more is read
    if (this.pos < this.held.length) {
      this.held = Buffer.concat([this.held.subarray(this.pos), chunk]);
      this.scanned -= this.pos;
      this.checked = Math.max(0, this.checked - this.pos);
      this.pos = 0;
    } else {
      this.held = chunk;
      this.pos = 0;
      this.scanned = 0;
      this.checked = 0;
    }
    this.process();
    if (this.pos >= this.held.length) {
      this.held = EMPTY; // an idle connection keeps no read buffer
      this.pos = 0;
      this.scanned = 0;
      this.checked = 0;
    } else if (this.blocked && !this.closed) {
      // Bytes that cannot be taken now: read no more until they are (one read past the limit at most).
      // Bytes kept because more are needed (a head, a chunk-size line cut by the read) keep it reading.
      this.stream.pause();
    }
  }

  private process(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      while (!this.closed && this.pos < this.held.length) {
        if (this.reading === Reading.Head) {
          if (!this.readHead()) break;
        } else if (this.reading === Reading.Body) {
          if (!this.readBody()) break;
        } else if (this.reading === Reading.Done && this.last) {
          throw new Http1ParseError('HPE_CLOSED_CONNECTION', 'data after the request that closed the connection');
        } else break;
      }
    } catch (error) {
      this.reading = Reading.Stopped;
      this.owner.malformed(this, error instanceof Http1ParseError ? error : new Http1ParseError('HPE_INTERNAL', String(error)));
    } finally {
      this.processing = false;
    }
  }

  /** Reads a head if all of it is here; false when more bytes are needed. */
  private readHead(): boolean {
    const { held } = this;
    // llhttp refuses bytes after such a request (HPE_CLOSED_CONNECTION), and so does Node's server.
    if (this.last) throw new Http1ParseError('HPE_CLOSED_CONNECTION', 'data after the request that closed the connection');
    if (this.messageStart === 0) this.messageStart = performance.now();
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    while (this.pos + 1 < held.length && held[this.pos] === 0x0d && held[this.pos + 1] === 0x0a) this.pos += 2;
    if (this.scanned < this.pos) this.scanned = this.pos;
    if (this.pos >= held.length) return false;
    checkMethodSoFar(held, this.pos, held.length);
    const found = scanHead(held, this.pos, this.scanned, held.length);
    if (found < 0) {
      this.scanned = -1 - found;
      if (held.length - this.pos > this.limits.maxHeadBytes) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'request head too large');
      return false;
    }
    if (found - this.pos > this.limits.maxHeadBytes) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'request head too large');
    const head = parseRequestHead(held, this.pos, found, this.limits.maxFields);
    // Node keeps `maxHeadersCount` fields; llhttp refuses a head with more (as too large).
    if (head.fieldCount > this.limits.maxFields) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'too many header fields');
    this.last = !head.keepAlive;
    this.pos = found;
    this.scanned = found;
    this.exchange = true;
    this.lastActive = performance.now();
    this.paused = true;
    if (head.framing === BodyFraming.Length) {
      this.reading = Reading.Body;
      this.remaining = head.length;
    } else if (head.framing === BodyFraming.Chunked) {
      this.reading = Reading.Body;
      this.decoder = new ChunkedDecoder(this.limits.maxHeadBytes);
    } else {
      this.requestRead();
    }
    this.owner.request(this, head);
    // After the request is handed over (and perhaps refused), as llhttp reaches the bytes after a head.
    if (found > this.checked && this.reading !== Reading.Stopped && !this.closed) this.checked = checkReadAhead(held, found, head, this.limits);
    return true;
  }

  /** Delivers body bytes; false when it cannot go on (paused, or more bytes are needed). */
  private readBody(): boolean {
    if (this.paused) return false;
    const { held } = this;
    if (this.decoder !== undefined) {
      const next = this.decoder.decode(held, this.pos, held.length, this);
      const progressed = next > this.pos;
      this.pos = next;
      if (this.decoder.done) {
        this.decoder = undefined;
        this.requestRead();
        this.bodySink?.end();
        return true;
      }
      return progressed && !this.paused;
    }
    const take = Math.min(this.remaining, held.length - this.pos);
    const chunk = held.subarray(this.pos, this.pos + take);
    this.pos += take;
    this.remaining -= take;
    if (this.remaining === 0) {
      this.requestRead();
      this.data(chunk);
      this.bodySink?.end();
      return true;
    }
    this.data(chunk);
    return true;
  }

  /** ChunkSink: one slice of body. A body nobody takes any more (its response has finished) is read and dropped. */
  data(chunk: Buffer): void {
    this.bodySink?.data(chunk);
  }

  /** The request has been read whole: the next bytes are the next request's, once this one is answered. */
  private requestRead(): void {
    this.reading = this.exchange ? Reading.Done : Reading.Head;
    this.messageStart = 0;
    if (!this.exchange) this.bodySink = undefined;
  }

  /** Starts delivering the current request's body to `sink`; `pauseBody` / `resumeBody` hold it back. */
  readBodyInto(sink: RequestBodySink): void {
    this.bodySink = sink;
    this.resumeBody(sink);
  }

  /** Holds back the body `sink` takes (if it is still the current request's). */
  pauseBody(sink: RequestBodySink): void {
    if (this.bodySink === sink) this.paused = true;
  }

  resumeBody(sink: RequestBodySink): void {
    if (!this.paused || this.closed || this.bodySink !== sink) return;
    this.paused = false;
    this.process();
    if (!this.blocked) this.stream.resume();
  }

  /** The stream's 'end': the client closed its side. */
  ended(): void {
    // A FIN mid-message cuts it short (llhttp's HPE_INVALID_EOF_STATE); otherwise the client is done.
    if (this.reading === Reading.Body || (this.reading === Reading.Head && this.pos < this.held.length)) {
      this.reading = Reading.Stopped;
      this.owner.malformed(this, new Http1ParseError('HPE_INVALID_EOF_STATE', 'the client closed mid-request'));
      return;
    }
    // As Node's server (without httpAllowHalfOpen): the connection ends, a request in flight with it.
    this.reading = Reading.Stopped;
    closeSoon(this.stream);
  }

  /** The stream's 'close'. */
  streamClosed(): void {
    this.closed = true;
    this.reading = Reading.Stopped;
    this.held = EMPTY;
    this.pos = 0;
    const cancelled = this.exchange;
    this.exchange = false;
    this.waiter = undefined;
    (this.stream as OwnedStream)[CONNECTION] = undefined;
    this.stream.off('data', onStreamData);
    this.stream.off('end', onStreamEnd);
    this.stream.off('drain', onStreamDrain);
    this.owner.closed(this, cancelled);
  }

  // ---- writing ----

  /** Sends `HTTP/1.1 100 Continue` at once (RFC 9110 §10.1.1). */
  writeContinue(): void {
    this.stream.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  /** Begins the response; the head goes out with the first body bytes or the end. */
  respond(framing: ResponseFraming): void {
    this.framing = framing;
    this.pendingHead = framing.head;
  }

  /**
   * Writes one body chunk; false when the stream is full, and `waiter` is told once it drains.
   * Bytes for a response that has no body (HEAD, 204, 304) are dropped, as Node drops them.
   */
  write(chunk: Buffer, waiter: DrainWaiter): boolean {
    const framing = this.framing;
    if (framing === undefined || this.closed) return true;
    if (!framing.hasBody || chunk.length === 0) return true;
    const { stream } = this;
    stream.cork();
    if (this.pendingHead !== undefined) {
      stream.write(this.pendingHead, 'latin1');
      this.pendingHead = undefined;
    }
    let room: boolean;
    if (framing.chunked) {
      stream.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      stream.write(chunk);
      room = stream.write('\r\n', 'latin1');
    } else room = stream.write(chunk);
    stream.uncork();
    if (!room) this.waiter = waiter;
    return room;
  }

  /** Ends the response (`tail`: the last chunk and trailers, for a chunked one). */
  end(tail: string | undefined): void {
    const framing = this.framing;
    if (framing === undefined || this.closed) return;
    const { stream } = this;
    let out = this.pendingHead ?? '';
    this.pendingHead = undefined;
    if (framing.chunked) out += tail ?? '0\r\n\r\n';
    if (out.length > 0) stream.write(out, 'latin1');
    this.framing = undefined;
    this.waiter = undefined;
    if (framing.last) {
      this.reading = Reading.Stopped;
      this.exchange = false;
      closeSoon(stream);
      return;
    }
    this.exchange = false;
    this.lastActive = performance.now();
    if (this.reading === Reading.Done) {
      this.reading = Reading.Head;
      this.bodySink = undefined;
      this.paused = true;
      this.process();
      if (!this.closed && !this.blocked) this.stream.resume();
    } else if (this.reading === Reading.Body) {
      // Answered before its body was read: the rest is read and dropped, as Node's server does.
      this.bodySink = undefined;
      this.paused = false;
      this.process();
      if (!this.closed) this.stream.resume();
    }
  }

  /** Fails the response: HTTP/1.1 has no way to say so but closing (the client sees a truncated response). */
  destroy(): void {
    this.stream.destroy();
  }

  /**
   * Answers with `bytes` unless a response has begun (which they would corrupt), then closes:
   * a canned refusal, as Node's server sends for what it cannot parse.
   */
  refuse(bytes: Buffer | undefined): void {
    this.reading = Reading.Stopped;
    // As Node: `headersSent` is true from `writeHead`, before the head has gone out.
    if (bytes !== undefined && this.stream.writable && this.framing === undefined) this.stream.write(bytes);
    this.stream.destroy();
  }

  /** Stops reading: the current response is the last (it says `Connection: close`). */
  stopReading(): void {
    this.reading = Reading.Stopped;
  }

  /** Closes the connection once what it is writing has gone (an idle one at once). */
  closeSoon(): void {
    this.reading = Reading.Stopped;
    closeSoon(this.stream);
  }

  /** The stream's 'drain'. */
  drained(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.drained();
  }

  /** Which of its time limits the connection is past at `now` (0 turns a limit off). */
  expired(now: number, headersTimeoutMs: number, requestTimeoutMs: number, idleTimeoutMs: number): Expiry {
    if (this.closed || this.reading === Reading.Stopped) return Expiry.None;
    if (this.messageStart !== 0) {
      const inHead = this.reading === Reading.Head;
      if (inHead && headersTimeoutMs > 0 && now - this.messageStart >= headersTimeoutMs) return Expiry.Head;
      if (requestTimeoutMs > 0 && now - this.messageStart >= requestTimeoutMs) return inHead ? Expiry.Head : Expiry.Request;
      return Expiry.None;
    }
    if (!this.exchange && idleTimeoutMs > 0 && now - this.lastActive >= idleTimeoutMs) return Expiry.Idle;
    return Expiry.None;
  }
}

function ignore(): void {}

const CONNECTION = Symbol('tandem.http1.serverConnection');

/** A stream with the connection reading it. */
interface OwnedStream extends Duplex {
  [CONNECTION]?: ServerConnection | undefined;
}

function onStreamData(this: OwnedStream, chunk: Buffer): void {
  this[CONNECTION]?.received(chunk);
}

function onStreamEnd(this: OwnedStream): void {
  this[CONNECTION]?.ended();
}

function onStreamDrain(this: OwnedStream): void {
  this[CONNECTION]?.drained();
}

function onStreamClose(this: OwnedStream): void {
  this[CONNECTION]?.streamClosed();
}

/** `net.Socket#destroySoon` through the Duplex API: end, then destroy once the end is written. */
function closeSoon(stream: Duplex): void {
  if (stream.writable) stream.end();
  if (stream.writableFinished) stream.destroy();
  else stream.once('finish', destroyEmitter);
}

function destroyEmitter(this: Duplex): void {
  this.destroy();
}
