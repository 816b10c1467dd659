import { ChunkedDecoder, type ChunkSink } from './chunked.js';
import { Http1ParseError } from './fields.js';
import { BodyFraming, checkMethodSoFar, parseRequestHead, scanHead, type ParsedRequestHead } from './requestParser.js';

/**
 * What Node's server would refuse in the rest of a read before answering the request just handed
 * over. llhttp parses all that a read holds before any response is written, so a fault in a pipelined
 * request after a good one gets the connection its 400 (and nothing else); answering the good one
 * first would tell a client — and a smuggling differential — something else than Node's server does.
 */

const DISCARD: ChunkSink = { data: () => undefined, paused: false };

/**
 * Checks the messages after the one whose head is `head` and whose body starts at `bodyStart` in
 * `buf`, as far as they have arrived: throws what llhttp would fail on, else returns the index of the
 * first message boundary not checked (so each byte of a read is checked once).
 */
export function checkReadAhead(buf: Buffer, bodyStart: number, head: ParsedRequestHead, limits: { readonly maxHeadBytes: number; readonly maxFields: number }): number {
  let at = skipBody(buf, bodyStart, head, limits.maxHeadBytes);
  let checked = bodyStart;
  let last = !head.keepAlive;
  while (at >= 0) {
    checked = at;
    while (at + 1 < buf.length && buf[at] === 0x0d && buf[at + 1] === 0x0a) at += 2;
    if (at >= buf.length) return checked;
    if (last) throw new Http1ParseError('HPE_CLOSED_CONNECTION', 'data after the request that closed the connection');
    checkMethodSoFar(buf, at, buf.length);
    const found = scanHead(buf, at, at, buf.length);
    if (found < 0) {
      if (buf.length - at > limits.maxHeadBytes) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'request head too large');
      return checked;
    }
    if (found - at > limits.maxHeadBytes) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'request head too large');
    const next = parseRequestHead(buf, at, found, limits.maxFields);
    if (next.fieldCount > limits.maxFields) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'too many header fields');
    if (next.method === 'CONNECT') return checked; // llhttp reads nothing past a CONNECT's head
    last = !next.keepAlive;
    at = skipBody(buf, found, next, limits.maxHeadBytes);
  }
  return checked;
}

/**
 * Where the message whose head ends at `start` ends, if all of its body is in `buf`; else -1. A body
 * that cannot be framed or fails to decode stops the look ahead: Node hands such a request over before
 * its parser reaches the fault, and so does the engine.
 */
function skipBody(buf: Buffer, start: number, head: ParsedRequestHead, maxTrailerBytes: number): number {
  if (head.framing === BodyFraming.None) return start;
  if (head.framing === BodyFraming.Length) return start + head.length <= buf.length ? start + head.length : -1;
  if (head.framing === BodyFraming.Unframed) return -1;
  const decoder = new ChunkedDecoder(maxTrailerBytes);
  try {
    const end = decoder.decode(buf, start, buf.length, DISCARD);
    return decoder.done ? end : -1;
  } catch {
    return -1;
  }
}
