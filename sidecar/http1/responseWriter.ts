import { STATUS_CODES } from 'node:http';
import type { Headers } from '../http/message.js';
import { isFieldValue, isToken } from './fields.js';
import { fieldLine, RequestHeadError } from './requestHead.js';

/**
 * Serializes a server's response head (RFC 9112 §4, §6, §9) the way Node's `ServerResponse.writeHead`
 * does (`_storeHeader` in `_http_outgoing.js`), byte for byte, so a client cannot tell the engines
 * apart: the same status line, header order, `Connection`/`Keep-Alive` fields, the same choice between
 * chunked and close-delimited bodies, and the same refusals of fields HTTP/1.1 cannot carry.
 */

/** What the request said that shapes its response. */
export interface ResponseRequestFacts {
  readonly method: string;
  readonly versionMinor: number;
  /** The request let the connection stay open, and the server wants it to. */
  readonly keepAlive: boolean;
  /** An HTTP/1.0 request's `TE` header named chunked (Node then chunks its response). */
  readonly acceptsChunked: boolean;
}

export interface ResponseFraming {
  /** The head, CRLF-terminated, as latin1. */
  readonly head: string;
  /** The body is sent as chunks (RFC 9112 §7.1). */
  readonly chunked: boolean;
  /** A body may be sent (not for HEAD, 1xx, 204, 304). */
  readonly hasBody: boolean;
  /** The connection closes after this response (`Connection: close`, or a close-delimited body). */
  readonly last: boolean;
}

const CONNECTION_CLOSE = /(?:^|\W)close(?:$|\W)/i;

/** The fields whose presence shapes the framing (`matchHeader` in Node), as bits. */
const enum Seen {
  Connection = 1,
  TransferEncoding = 2,
  ContentLength = 4,
  Date = 8,
  Trailer = 16,
  KeepAlive = 32,
}

const FRAMING_FIELDS: Readonly<Record<string, Seen | undefined>> = Object.assign(Object.create(null) as Record<string, Seen>, {
  connection: Seen.Connection,
  'transfer-encoding': Seen.TransferEncoding,
  'content-length': Seen.ContentLength,
  date: Seen.Date,
  trailer: Seen.Trailer,
  'keep-alive': Seen.KeepAlive,
});
const CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;

/**
 * @param sendDate add `Date` (Node's default; Tandem turns it off for upstream responses, whose head it forwards as is).
 * @param keepAliveTimeoutMs advertised as `Keep-Alive: timeout=N` on a kept-alive response; 0 sends none.
 */
export function serializeResponseHead(status: number, headers: Headers, request: ResponseRequestFacts, sendDate: boolean, keepAliveTimeoutMs: number, reason = reasonPhrase(status)): ResponseFraming {
  if (!validStatus(status)) throw new RequestHeadError('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${status}`);
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  const bodiless = status === 204 || status === 304 || status < 200;
  const hasBody = request.method !== 'HEAD' && !bodiless;
  let keepAlive = request.keepAlive;
  let last = false;
  let chunked = false;
  let seen = 0;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const value = headers[name];
    if (!isToken(name)) throw new RequestHeadError('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
    if (value === undefined) throw new RequestHeadError('ERR_HTTP_INVALID_HEADER_VALUE', `Invalid value "undefined" for header "${name}"`);
    if (typeof value === 'string') head += fieldLine(name, value);
    else if (value.length >= 2 && name.toLowerCase() === 'cookie') head += fieldLine(name, value.join('; '));
    else for (const item of value) head += fieldLine(name, item);
    if (name.length < 4 || name.length > 17) continue;
    const lower = name.toLowerCase();
    const bit = FRAMING_FIELDS[lower];
    if (bit === undefined) continue;
    seen |= bit;
    const joined = typeof value === 'string' ? value : value.join(', ');
    if (lower === 'connection') {
      if (CONNECTION_CLOSE.test(joined)) last = true;
      else keepAlive = true;
    } else if (lower === 'transfer-encoding' && CHUNKED.test(joined)) chunked = true;
  }
  const connection = (seen & Seen.Connection) !== 0;
  const contentLength = (seen & Seen.ContentLength) !== 0;
  const te = (seen & Seen.TransferEncoding) !== 0;
  const date = (seen & Seen.Date) !== 0;
  const trailer = (seen & Seen.Trailer) !== 0;
  const defaultKeepAlive = (seen & Seen.KeepAlive) === 0;
  if (sendDate && !date) head += `Date: ${new Date().toUTCString()}\r\n`;
  if (chunked && (status === 204 || status === 304)) {
    chunked = false;
    keepAlive = false;
  }
  const chunkedByDefault = request.versionMinor === 1 || request.acceptsChunked;
  if (!connection) {
    if (keepAlive && (contentLength || chunkedByDefault)) {
      head += 'Connection: keep-alive\r\n';
      if (keepAliveTimeoutMs > 0 && defaultKeepAlive) head += `Keep-Alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n`;
    } else {
      last = true;
      head += 'Connection: close\r\n';
    }
  }
  if (!contentLength && !te) {
    if (!hasBody) chunked = false;
    else if (!chunkedByDefault) last = true;
    else {
      head += 'Transfer-Encoding: chunked\r\n';
      chunked = true;
    }
  }
  if (!chunked && trailer) throw new RequestHeadError('ERR_HTTP_TRAILER_INVALID', 'Trailers are invalid with this transfer encoding');
  return { head: `${head}\r\n`, chunked, hasBody, last };
}

export function validStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 100 && status <= 999;
}

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'unknown';
}

/** The last chunk and the trailer section (RFC 9112 §7.1.2), as Node's `addTrailers` writes them. */
export function serializeTrailers(trailers: Headers | undefined): string {
  let section = '0\r\n';
  if (trailers !== undefined) {
    for (const name in trailers) {
      const value = trailers[name];
      if (!isToken(name)) throw new RequestHeadError('ERR_INVALID_HTTP_TOKEN', `Trailer name must be a valid HTTP token ["${name}"]`);
      const text = String(value);
      if (!isFieldValue(text)) throw new RequestHeadError('ERR_INVALID_CHAR', `Invalid character in trailer content ["${name}"]`);
      section += `${name}: ${text}\r\n`;
    }
  }
  return `${section}\r\n`;
}

