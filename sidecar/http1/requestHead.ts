import type { Headers } from '../http/message.js';
import { isFieldValue, isToken } from './fields.js';

/**
 * Serializes an HTTP/1.1 request head (RFC 9112 §3) for an upstream, refusing what Node's
 * `http.request` refuses (`ERR_INVALID_HTTP_TOKEN`, `ERR_INVALID_CHAR`, `ERR_UNESCAPED_CHARACTERS`),
 * so a request Tandem cannot send fails the same way on either engine.
 */

/** Methods whose requests Node's client does not frame with `Content-Length: 0` when they have no body. */
const BODYLESS_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

export class RequestHeadError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RequestHeadError';
  }
}

/**
 * The head as a latin1 string, with `Connection: keep-alive` (what Node's keep-alive agent sends).
 * `headers` carries the framing the caller chose (Content-Length or `transfer-encoding: chunked`);
 * a request with no body and neither gets `Content-Length: 0` unless its method implies no body.
 */
export function serializeRequestHead(method: string, path: string, headers: Headers, hasBody: boolean): string {
  if (!isToken(method)) throw new RequestHeadError('ERR_INVALID_HTTP_TOKEN', `Method must be a valid HTTP token ["${method}"]`);
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x21 || c > 0xff) throw new RequestHeadError('ERR_UNESCAPED_CHARACTERS', 'Request path contains unescaped characters');
  }
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let framed = false;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (!isToken(name)) throw new RequestHeadError('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
    if (name === 'content-length' || name === 'transfer-encoding') framed = true;
    if (typeof value === 'string') head += fieldLine(name, value);
    else for (const item of value) head += fieldLine(name, item);
  }
  if (headers['connection'] === undefined) head += 'connection: keep-alive\r\n';
  if (!hasBody && !framed && !BODYLESS_BY_DEFAULT.has(method)) head += 'content-length: 0\r\n';
  return `${head}\r\n`;
}

/** One field line, refused (`ERR_INVALID_CHAR`, as Node's) if the value holds what a field value cannot. */
export function fieldLine(name: string, value: string): string {
  if (!isFieldValue(value)) throw new RequestHeadError('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
  return `${name}: ${value}\r\n`;
}
