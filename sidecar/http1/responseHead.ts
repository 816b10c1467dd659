import type { Headers } from '../http/message.js';
import { FIELD_VALUE, Http1ParseError, lineEnd, parseContentLength, parseFields } from './fields.js';

/**
 * The lean engine's HTTP/1.1 response head parser (RFC 9112 §4, §6.3), over the bytes an upstream
 * sent. Strict where a proxy must be: every line ends with CRLF, no obs-fold, one Content-Length of
 * digits, never Content-Length with Transfer-Encoding. It parses a head
 * only once the whole of it has arrived, so a head split across reads parses as if whole.
 */

/** How the body after a head is delimited (RFC 9112 §6.3). */
export type Framing =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  /** Read until the upstream closes: the connection cannot be reused. */
  | { readonly kind: 'close' };

export interface ResponseHead {
  readonly status: number;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly versionMinor: number;
  /** In Node's shape (`IncomingMessage.headers`). */
  readonly headers: Headers;
  readonly framing: Framing;
  /** The connection may carry another request after this response. */
  readonly keepAlive: boolean;
  /** The server's `Keep-Alive: timeout=N`, in seconds, if it sent one. */
  readonly keepAliveTimeoutS: number | undefined;
}

export interface ResponseHeadLimits {
  /** Bytes the head may take, status line included (Node's client: `http.maxHeaderSize`, 16 KiB). */
  readonly maxHeadBytes: number;
  /** Fields kept; more are read and dropped, as Node's client does (its `maxHeadersCount`, 2000). */
  readonly maxFields: number;
}

const NONE: Framing = { kind: 'none' };
const CHUNKED: Framing = { kind: 'chunked' };
const CLOSE: Framing = { kind: 'close' };

/**
 * Parses the response head at `buf[start..end)`. Returns undefined while the head is incomplete
 * (throwing once it is over `limits.maxHeadBytes`), else the head and the index just past it.
 *
 * @param requestMethod the method of the request this answers: a response to HEAD has no body.
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, requestMethod: string, limits: ResponseHeadLimits): { head: ResponseHead; next: number } | undefined {
  const headEnd = findHeadEnd(buf, start, end);
  if (headEnd < 0) {
    if (end - start > limits.maxHeadBytes) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'response head too large');
    return undefined;
  }
  if (headEnd - start > limits.maxHeadBytes) throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'response head too large');
  const lineCr = lineEnd(buf, start, end);
  const { status, versionMinor } = parseStatusLine(buf, start, lineCr);
  const headers: Headers = {};
  const fields = parseFields(buf, lineCr + 2, headEnd, headers, limits.maxFields);
  const framing = framingOf(headers, fields.contentLengths, status, requestMethod);
  const connection = headers['connection'];
  const tokens = typeof connection === 'string' ? connection.toLowerCase() : '';
  const keepAlive = framing.kind !== 'close' && (versionMinor === 1 ? !hasToken(tokens, 'close') : hasToken(tokens, 'keep-alive'));
  return { head: { status, versionMinor, headers, framing, keepAlive, keepAliveTimeoutS: keepAliveTimeout(headers['keep-alive']) }, next: fields.next };
}

/** The index just past the head's empty line, or -1 if it has not all arrived; refuses a bare LF on the way. */
function findHeadEnd(buf: Buffer, start: number, end: number): number {
  let pos = start;
  for (;;) {
    const cr = lineEnd(buf, pos, end);
    if (cr < 0) return -1;
    if (cr === pos && pos !== start) return cr + 2;
    if (cr === pos) throw new Http1ParseError('HPE_INVALID_CONSTANT', 'empty line before the status line');
    pos = cr + 2;
  }
}

/** `HTTP/1.x SSS[ reason]` (RFC 9112 §4). */
function parseStatusLine(buf: Buffer, start: number, cr: number): { status: number; versionMinor: number } {
  if (cr - start < 12 || buf.toString('latin1', start, start + 7) !== 'HTTP/1.') throw new Http1ParseError('HPE_INVALID_CONSTANT', 'invalid status line');
  const minor = (buf[start + 7] as number) - 0x30;
  if ((minor !== 0 && minor !== 1) || buf[start + 8] !== 0x20) throw new Http1ParseError('HPE_INVALID_VERSION', 'invalid HTTP version');
  let status = 0;
  for (let i = start + 9; i < start + 12; i++) {
    const digit = (buf[i] as number) - 0x30;
    if (digit < 0 || digit > 9) throw new Http1ParseError('HPE_INVALID_STATUS', 'invalid status code');
    status = status * 10 + digit;
  }
  if (status < 100) throw new Http1ParseError('HPE_INVALID_STATUS', 'invalid status code');
  if (cr > start + 12) {
    if (buf[start + 12] !== 0x20) throw new Http1ParseError('HPE_INVALID_STATUS', 'invalid status code');
    for (let i = start + 13; i < cr; i++) {
      if (FIELD_VALUE[buf[i] as number] !== 1) throw new Http1ParseError('HPE_INVALID_STATUS', 'invalid character in the reason phrase');
    }
  }
  return { status, versionMinor: minor };
}

/** RFC 9112 §6.3, refusing the ambiguities a smuggler could use (two lengths, a length and a coding) rather than resolving them. */
function framingOf(headers: Headers, contentLengths: number, status: number, requestMethod: string): Framing {
  const codings = headers['transfer-encoding'] as string | undefined;
  const length = headers['content-length'] as string | undefined;
  if (contentLengths > 1) throw new Http1ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'duplicate Content-Length');
  if (codings !== undefined && length !== undefined) throw new Http1ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'Content-Length with Transfer-Encoding');
  // A response whose final coding is not chunked is read until the close (RFC 9112 §6.3, rule 4).
  const chunked = codings !== undefined && codings.toLowerCase().split(',').pop()?.trim() === 'chunked';
  const bytes = length === undefined ? undefined : parseContentLength(length);
  if (requestMethod === 'HEAD' || status === 204 || status === 304 || status < 200) return NONE;
  if (codings !== undefined) return chunked ? CHUNKED : CLOSE;
  if (bytes !== undefined) return bytes === 0 ? NONE : { kind: 'length', length: bytes };
  return CLOSE;
}

function hasToken(list: string, token: string): boolean {
  if (list.length === 0) return false;
  if (list === token) return true;
  for (const item of list.split(',')) if (item.trim() === token) return true;
  return false;
}

/** `Keep-Alive: timeout=5, max=100` → 5 (RFC 2068 §19.7.1.1, what Node's agent honours). */
function keepAliveTimeout(value: Headers[string]): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /(?:^|[,\s])timeout=(\d+)/i.exec(value);
  return match === null ? undefined : Number(match[1]);
}
