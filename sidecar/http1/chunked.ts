import type { Headers } from '../http/message.js';
import { Http1ParseError, lineEnd, parseFields, TOKEN } from './fields.js';

/**
 * The chunked transfer coding (RFC 9112 §7.1): an incremental decoder that hands out body bytes as
 * slices of what was read (no copies), and the framing an encoder puts around a chunk.
 */

/** Bytes a chunk-size line may take, extensions included (llhttp's limit for chunk extensions is 16 KiB). */
export const MAX_CHUNK_LINE_BYTES = 16 * 1024;

/** Where decoded bytes go; `paused` stops the decoder after the chunk it just delivered. */
export interface ChunkSink {
  data(chunk: Buffer): void;
  readonly paused: boolean;
}

const enum State {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

export class ChunkedDecoder {
  private state = State.Size;
  private remaining = 0;
  /** Trailer fields, in Node's shape; undefined when the message had none. */
  trailers: Headers | undefined;

  /** @param maxTrailerBytes the trailer section's limit (the head's). */
  constructor(private readonly maxTrailerBytes: number) {}

  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Decodes from `buf[start..end)`; returns the index of the first byte not consumed. Bytes are left
   * over when a size line or the trailer section is cut by the read (the caller keeps them and calls
   * again with more), when the sink paused, and after the last chunk (the next message's).
   */
  decode(buf: Buffer, start: number, end: number, sink: ChunkSink): number {
    let pos = start;
    while (pos < end) {
      switch (this.state) {
        case State.Size: {
          const cr = lineEnd(buf, pos, end);
          if (cr < 0) {
            // llhttp refuses a size that does not start with a digit as it arrives, not at the line end.
            if (hexValue(buf[pos] as number) < 0 && buf[pos] !== 0x0d) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
            if (end - pos > MAX_CHUNK_LINE_BYTES) throw new Http1ParseError('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'chunk extensions too large');
            return pos;
          }
          if (cr - pos > MAX_CHUNK_LINE_BYTES) throw new Http1ParseError('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'chunk extensions too large');
          this.remaining = chunkSize(buf, pos, cr);
          this.state = this.remaining === 0 ? State.Trailers : State.Data;
          pos = cr + 2;
          break;
        }
        case State.Data: {
          const take = Math.min(this.remaining, end - pos);
          this.remaining -= take;
          if (this.remaining === 0) this.state = State.DataEnd;
          sink.data(buf.subarray(pos, pos + take));
          pos += take;
          if (sink.paused) return pos;
          break;
        }
        case State.DataEnd: {
          if (end - pos < 2) {
            if (buf[pos] !== 0x0d) throw new Http1ParseError('HPE_STRICT', 'chunk data not followed by CRLF');
            return pos;
          }
          if (buf[pos] !== 0x0d || buf[pos + 1] !== 0x0a) throw new Http1ParseError('HPE_STRICT', 'chunk data not followed by CRLF');
          this.state = State.Size;
          pos += 2;
          break;
        }
        case State.Trailers: {
          if (!sectionComplete(buf, pos, end)) {
            if (end - pos > this.maxTrailerBytes) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'trailer section too large');
            return pos;
          }
          const trailers: Headers = {};
          const fields = parseFields(buf, pos, end, trailers, Number.MAX_SAFE_INTEGER);
          if (fields.next - pos > this.maxTrailerBytes) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'trailer section too large');
          if (fields.count > 0) this.trailers = trailers;
          this.state = State.Done;
          return fields.next;
        }
        case State.Done:
          return pos;
      }
    }
    return pos;
  }
}

/** `1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )` up to the CR at `cr`. */
function chunkSize(buf: Buffer, start: number, cr: number): number {
  let size = 0;
  let pos = start;
  while (pos < cr) {
    const digit = hexValue(buf[pos] as number);
    if (digit < 0) break;
    size = size * 16 + digit;
    if (size > Number.MAX_SAFE_INTEGER) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'chunk size too large');
    pos++;
  }
  if (pos === start) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
  while (pos < cr) {
    pos = skipWhitespace(buf, pos, cr);
    if (buf[pos] !== 0x3b) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
    pos = skipWhitespace(buf, pos + 1, cr);
    const name = pos;
    while (pos < cr && TOKEN[buf[pos] as number] === 1) pos++;
    if (pos === name) throw new Http1ParseError('HPE_STRICT', 'invalid chunk extension');
    pos = skipWhitespace(buf, pos, cr);
    if (buf[pos] !== 0x3d) continue;
    pos = skipWhitespace(buf, pos + 1, cr);
    pos = buf[pos] === 0x22 ? quotedString(buf, pos, cr) : token(buf, pos, cr);
  }
  return size;
}

function token(buf: Buffer, start: number, end: number): number {
  let pos = start;
  while (pos < end && TOKEN[buf[pos] as number] === 1) pos++;
  if (pos === start) throw new Http1ParseError('HPE_STRICT', 'invalid chunk extension value');
  return pos;
}

/** RFC 9110 §5.6.4; returns the index past the closing quote. */
function quotedString(buf: Buffer, start: number, end: number): number {
  for (let pos = start + 1; pos < end; pos++) {
    const b = buf[pos] as number;
    if (b === 0x22) return pos + 1;
    if (b === 0x5c) pos++;
    else if (b !== 0x09 && (b < 0x20 || b === 0x7f)) break;
  }
  throw new Http1ParseError('HPE_STRICT', 'invalid quoted chunk extension value');
}

function skipWhitespace(buf: Buffer, start: number, end: number): number {
  let pos = start;
  while (pos < end && (buf[pos] === 0x20 || buf[pos] === 0x09)) pos++;
  return pos;
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

/** Whether the section of field lines at `buf[start..end)` has reached its empty line (refusing a bare LF on the way). */
function sectionComplete(buf: Buffer, start: number, end: number): boolean {
  let pos = start;
  for (;;) {
    const cr = lineEnd(buf, pos, end);
    if (cr < 0) return false;
    if (cr === pos) return true;
    pos = cr + 2;
  }
}

/** The line before a chunk of `length` bytes. */
export function chunkHeader(length: number): string {
  return `${length.toString(16)}\r\n`;
}

export const CHUNK_END = '\r\n';
/** The last chunk with no trailers. */
export const LAST_CHUNK = '0\r\n\r\n';
