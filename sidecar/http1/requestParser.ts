import { METHODS } from 'node:http';
import type { Headers } from '../http/message.js';
import { Http1ParseError, lineEnd, parseContentLength, parseFields } from './fields.js';

/**
 * The lean engine's HTTP/1.1 request head parser (RFC 9112 §3, §5, §6), for the listener side. A head
 * is parsed only once all of it has arrived, so a head split across reads parses as if whole. It
 * refuses, with llhttp's codes, what Node's server refuses: CRLF only, no obs-fold, no whitespace
 * before a colon, a method llhttp knows, HTTP/1.0 or 1.1, one Content-Length of digits, never
 * Content-Length with Transfer-Encoding, `chunked` only as the final coding. What Node's server lets
 * through and Tandem refuses (a missing Host, a coding other than `chunked`) is the listener's
 * decision (`http1Refusals.ts`), not the parser's.
 */

/** How the request body after a head is delimited (RFC 9112 §6.3: a request without framing has none). */
export const enum BodyFraming {
  None,
  Length,
  Chunked,
  /** A final coding other than chunked: the body cannot be framed, so the request is refused. */
  Unframed,
}

export interface ParsedRequestHead {
  readonly method: string;
  /** The request-target as sent (origin-form, absolute-form, `*`, or authority-form for CONNECT). */
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly versionMinor: number;
  /** In Node's shape (`IncomingMessage.headers`), the first `maxFields` fields. */
  readonly headers: Headers;
  /** Field lines in the head, kept or not. */
  readonly fieldCount: number;
  readonly framing: BodyFraming;
  /** Body bytes, when `framing` is `Length`. */
  readonly length: number;
  /** The client lets the connection carry another request after this one (RFC 9112 §9.3). */
  readonly keepAlive: boolean;
}

/** llhttp's methods, which are Node's `http.METHODS`: any other is refused (HPE_INVALID_METHOD). */
const KNOWN_METHODS = new Set(METHODS);

/** Every prefix of a known method, for refusing a request line as soon as its first bytes are wrong. */
const METHOD_PREFIXES = new Set<string>();
for (const method of METHODS) for (let i = 0; i <= method.length; i++) METHOD_PREFIXES.add(method.slice(0, i));
const LONGEST_METHOD = Math.max(...METHODS.map((method) => method.length));

/**
 * Refuses a head that has not all arrived once its method cannot be one llhttp knows: llhttp checks a
 * request line byte by byte, so Node's server answers `hello` with 400 without waiting for a line end.
 * Only the method is checked early (a few bytes, so a head arriving a byte at a time costs little).
 */
export function checkMethodSoFar(buf: Buffer, start: number, end: number): void {
  const stop = Math.min(end, start + LONGEST_METHOD + 1);
  let space = start;
  while (space < stop && buf[space] !== 0x20) space++;
  const word = buf.toString('latin1', start, space);
  const fits = space < stop ? KNOWN_METHODS.has(word) : METHOD_PREFIXES.has(word);
  if (!fits && !(space === start + 1 && buf[start] === 0x0d)) throw new Http1ParseError('HPE_INVALID_METHOD', 'invalid method');
}

/**
 * Looks for the end of a head in `buf[from..end)`, `from` being the start of a line. Returns the index
 * just past the head's empty line, or, while it has not arrived, `-1 - s` where `s` is the start of the
 * first incomplete line (where the next search can resume, so a head arriving a byte at a time is
 * scanned once). Throws on a bare LF.
 */
export function scanHead(buf: Buffer, headStart: number, from: number, end: number): number {
  let pos = from;
  for (;;) {
    const cr = lineEnd(buf, pos, end);
    if (cr < 0) return -1 - pos;
    if (cr === pos && pos !== headStart) return cr + 2;
    if (cr === pos) throw new Http1ParseError('HPE_INVALID_METHOD', 'empty request line');
    pos = cr + 2;
  }
}

/** Parses the complete head at `buf[start..headEnd)` (`headEnd` from `scanHead`). */
export function parseRequestHead(buf: Buffer, start: number, headEnd: number, maxFields: number): ParsedRequestHead {
  const cr = lineEnd(buf, start, headEnd);
  const methodEnd = buf.indexOf(0x20, start);
  if (methodEnd < 0 || methodEnd >= cr) throw new Http1ParseError('HPE_INVALID_METHOD', 'invalid request line');
  const method = buf.toString('latin1', start, methodEnd);
  if (!KNOWN_METHODS.has(method)) throw new Http1ParseError('HPE_INVALID_METHOD', 'invalid method');
  const targetEnd = buf.indexOf(0x20, methodEnd + 1);
  if (targetEnd < 0 || targetEnd >= cr || targetEnd === methodEnd + 1) throw new Http1ParseError('HPE_INVALID_URL', 'invalid request target');
  for (let i = methodEnd + 1; i < targetEnd; i++) {
    const b = buf[i] as number;
    if (b < 0x21 || b === 0x7f) throw new Http1ParseError('HPE_INVALID_URL', 'invalid character in the request target');
  }
  const target = buf.toString('latin1', methodEnd + 1, targetEnd);
  if (!targetFits(method, target)) throw new Http1ParseError('HPE_INVALID_URL', 'invalid request target');
  if (cr - targetEnd !== 9 || buf.toString('latin1', targetEnd + 1, targetEnd + 8) !== 'HTTP/1.') throw new Http1ParseError('HPE_INVALID_VERSION', 'invalid HTTP version');
  const versionMinor = (buf[targetEnd + 8] as number) - 0x30;
  if (versionMinor !== 0 && versionMinor !== 1) throw new Http1ParseError('HPE_INVALID_VERSION', 'invalid HTTP version');
  const headers: Headers = {};
  const fields = parseFields(buf, cr + 2, headEnd, headers, maxFields);
  const { framing, length } = framingOf(headers, fields.contentLengths);
  const connection = headers['connection'];
  const tokens = typeof connection === 'string' ? connection.toLowerCase() : '';
  const keepAlive = versionMinor === 1 ? !hasToken(tokens, 'close') : hasToken(tokens, 'keep-alive');
  return { method, target, versionMinor, headers, fieldCount: fields.count, framing, length, keepAlive };
}

/**
 * The target forms llhttp takes (RFC 9112 §3.2): origin-form, `*`, absolute-form with a scheme, and
 * authority-form for CONNECT. What absolute-form names is the router's business (`parseTarget`).
 */
function targetFits(method: string, target: string): boolean {
  const first = target.charCodeAt(0);
  if (first === 0x2f || target === '*') return true;
  if (method === 'CONNECT') return true;
  const colon = target.indexOf('://');
  if (colon <= 0) return false;
  for (let i = 0; i < colon; i++) {
    const c = target.charCodeAt(i) | 0x20;
    if (c < 0x61 || c > 0x7a) return false;
  }
  return true;
}

/** RFC 9112 §6.1, §6.3, refusing the ambiguities a smuggler could use rather than resolving them. */
function framingOf(headers: Headers, contentLengths: number): { framing: BodyFraming; length: number } {
  const codings = headers['transfer-encoding'] as string | undefined;
  const length = headers['content-length'] as string | undefined;
  if (contentLengths > 1) throw new Http1ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'duplicate Content-Length');
  if (codings !== undefined) {
    if (length !== undefined) throw new Http1ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'Content-Length with Transfer-Encoding');
    // `chunked` must be the final coding, applied once (RFC 9112 §6.1); after it, nothing frames the body.
    const list = codings.toLowerCase().split(',');
    for (let i = 0; i < list.length - 1; i++) {
      if ((list[i] as string).trim() === 'chunked') throw new Http1ParseError('HPE_INVALID_TRANSFER_ENCODING', 'chunked must be the final transfer coding');
    }
    return { framing: (list[list.length - 1] as string).trim() === 'chunked' ? BodyFraming.Chunked : BodyFraming.Unframed, length: 0 };
  }
  if (length === undefined) return { framing: BodyFraming.None, length: 0 };
  const bytes = parseContentLength(length);
  return { framing: bytes === 0 ? BodyFraming.None : BodyFraming.Length, length: bytes };
}

function hasToken(list: string, token: string): boolean {
  if (list.length === 0) return false;
  if (list === token) return true;
  for (const item of list.split(',')) if (item.trim() === token) return true;
  return false;
}
