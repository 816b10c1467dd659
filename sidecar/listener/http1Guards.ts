import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Headers } from '../http/message.js';

/**
 * What Tandem's HTTP/1.1 listeners refuse beyond what Node's parser (llhttp) already refuses, and how
 * they answer what llhttp refuses: as Node would (a canned response with `Connection: close`, then the
 * connection closed), but counted, by a stable reason, in `tandem_listener_guarded_total`.
 *
 * llhttp already fails CL+TE, duplicate Content-Length, obs-fold, bare LF, NUL, duplicated or
 * `chunked, gzip` Transfer-Encoding and bad chunk sizes and extensions (400). It passes shapes a proxy
 * must not forward: a transfer coding other than `chunked` (`gzip, chunked`, `identity`; some fail
 * only once llhttp reaches the body, after the head was dispatched), and HTTP/1.0 with
 * Transfer-Encoding (RFC 9112 §6.1). Node's own missing-Host check is done here instead, to count it.
 */

/** Reasons for `tandem_listener_guarded_total{reason}`; stable, as dashboards and tests name them. */
export const Http1GuardReason = {
  /** llhttp could not parse the request (smuggling shapes, malformed heads and chunks). */
  BadRequest: 'http1_bad_request',
  /** The head was over `max_request_headers_kb` (431). (Node drops fields past `max_headers_count` silently.) */
  HeadersTooLarge: 'http1_headers_too_large',
  /** Chunk extensions over llhttp's limit (413). */
  ChunkExtensionsTooLarge: 'http1_chunk_extensions_too_large',
  /** The head was not complete within `request_headers_timeout` (408; slow-loris). */
  RequestHeadersTimeout: 'http1_request_headers_timeout',
  /** The whole request was not received within `request_timeout` (408; slow body). */
  RequestTimeout: 'http1_request_timeout',
  /** A Transfer-Encoding Tandem does not forward: 501 for a coding other than `chunked`, 400 on HTTP/1.0. */
  TransferEncoding: 'http1_transfer_encoding',
} as const;

/** Node's canned responses (`_http_server.js`), which Tandem's handler keeps. */
const canned = (status: number, text: string): Buffer => Buffer.from(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n\r\n`, 'latin1');
const BAD_REQUEST = canned(400, 'Bad Request');
const REQUEST_TIMEOUT = canned(408, 'Request Timeout');
const PAYLOAD_TOO_LARGE = canned(413, 'Payload Too Large');
const HEADERS_TOO_LARGE = canned(431, 'Request Header Fields Too Large');

interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

export class Http1Guards {
  /** The last request each connection started, to tell a head timeout from a body timeout. */
  private readonly exchanges = new WeakMap<Duplex, Exchange>();
  /**
   * Connections whose request `admit` refused: llhttp may still fail on the body it cannot frame
   * (`Transfer-Encoding: xchunked`), which is the same refusal, already answered and counted.
   */
  private readonly refused = new WeakSet<Duplex>();

  /**
   * @param maxHeadersCount the listener's `max_headers_count`. Node's parser keeps one field more
   *   (`http1Server`) and silently drops the rest, so a head with more than this many is seen here and
   *   refused with 431, as Envoy does, rather than forwarded without some of its fields.
   */
  constructor(
    private readonly guarded: (reason: string) => void,
    private readonly maxHeadersCount: number,
  ) {}

  /**
   * Looks at a parsed request head before it is served: true when it may go on; otherwise it has
   * been answered here, with `Connection: close`, and nothing of it reaches an upstream.
   */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    this.exchanges.set(req.socket, { req, res });
    // llhttp also passes an `HTTP/2.0` request line, to which neither HTTP/1.x rule applies.
    const minor = req.httpVersionMajor === 1 ? req.httpVersionMinor : -1;
    const refusal = http1Refusal(req.headers, minor, req.rawHeaders.length / 2, this.maxHeadersCount);
    return refusal === undefined ? true : this.refuse(req, res, refusal);
  }

  /**
   * The exchange on `socket` is over (its response closed): an idle keep-alive connection keeps no
   * request or response alive, and a timeout on it is the next head's.
   */
  finished(socket: Duplex): void {
    this.exchanges.delete(socket);
  }

  /** Replaces `http.Server`'s default 'clientError' handling: the same answers, counted. */
  readonly onClientError = (error: NodeJS.ErrnoException, socket: Duplex): void => {
    const verdict = this.refused.has(socket) ? undefined : this.verdictOf(error, socket);
    if (verdict !== undefined) {
      this.guarded(verdict.reason);
      // As Node: answer only if no response on this connection has begun, so none is corrupted.
      const exchange = this.exchanges.get(socket);
      const responding = exchange !== undefined && exchange.res.headersSent && !exchange.res.writableFinished;
      if (socket.writable && !responding) socket.write(verdict.response);
    }
    // Anything else is the socket failing (a reset, a write to a closed peer): nothing to answer.
    socket.destroy();
  };

  private verdictOf(error: NodeJS.ErrnoException, socket: Duplex): ClientErrorVerdict | undefined {
    // Node raises the same error for both time limits: a head that was parsed but whose body is still
    // arriving is past request_timeout; otherwise the next head is past request_headers_timeout.
    const exchange = this.exchanges.get(socket);
    return clientErrorVerdict(error.code, exchange !== undefined && !exchange.req.complete);
  }

  private refuse(req: IncomingMessage, res: ServerResponse, refusal: Http1Refusal): false {
    this.guarded(refusal.reason);
    this.refused.add(req.socket);
    const body = `${refusal.why}\n`;
    res.shouldKeepAlive = false; // the body's framing is unknown: nothing after this head can be read
    res.writeHead(refusal.status, refusalHeaders(body));
    res.end(body);
    return false;
  }
}

/** Why a parsed head is refused before it is served: the status, a line of text, the guard reason. */
export interface Http1Refusal {
  readonly status: 400 | 431 | 501;
  readonly why: string;
  readonly reason: string;
}

/**
 * What Tandem refuses in a head its parser accepted, in the order it checks, for either engine.
 *
 * @param versionMinor of an HTTP/1.x request (-1 for another major version).
 * @param maxHeadersCount the listener's `max_headers_count`: a head with more fields is refused with
 *   431, as Envoy does, rather than forwarded without some of them.
 */
export function http1Refusal(headers: Headers, versionMinor: number, fieldCount: number, maxHeadersCount: number): Http1Refusal | undefined {
  // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400 (Node's own check, counted here).
  if (headers['host'] === undefined && versionMinor === 1) return { status: 400, why: 'an HTTP/1.1 request needs a Host header', reason: Http1GuardReason.BadRequest };
  if (fieldCount > maxHeadersCount) return { status: 431, why: `more than max_headers_count (${maxHeadersCount}) header fields`, reason: Http1GuardReason.HeadersTooLarge };
  const codings = headers['transfer-encoding'] as string | undefined;
  if (codings === undefined) return undefined;
  // RFC 9112 §6.1: a server MUST NOT treat an HTTP/1.0 message with Transfer-Encoding as chunked
  // and ought to treat it as faulty framing, then close.
  if (versionMinor === 0) return { status: 400, why: 'transfer-encoding is not allowed in HTTP/1.0', reason: Http1GuardReason.TransferEncoding };
  // RFC 9112 §6.1: a server that receives a transfer coding it does not understand SHOULD answer
  // 501. Tandem decodes only `chunked`; passing `gzip, chunked` on would let the upstream frame
  // the body differently from Tandem.
  if (codings.trim().toLowerCase() !== 'chunked') return { status: 501, why: 'transfer-encoding other than chunked is not implemented', reason: Http1GuardReason.TransferEncoding };
  return undefined;
}

/** The headers of a refusal's response (Node adds `Date` after them). */
export function refusalHeaders(body: string): Record<string, string> {
  return { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
}

export interface ClientErrorVerdict {
  readonly response: Buffer;
  readonly reason: string;
}

/**
 * How a parse failure or a time limit is answered (Node's canned response) and counted, by llhttp's
 * or Node's error code; undefined for a socket failing (nothing to answer).
 *
 * @param inBody the request's head had been parsed when the time ran out.
 */
export function clientErrorVerdict(code: string | undefined, inBody: boolean): ClientErrorVerdict | undefined {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { response: HEADERS_TOO_LARGE, reason: Http1GuardReason.HeadersTooLarge };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { response: PAYLOAD_TOO_LARGE, reason: Http1GuardReason.ChunkExtensionsTooLarge };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { response: REQUEST_TIMEOUT, reason: inBody ? Http1GuardReason.RequestTimeout : Http1GuardReason.RequestHeadersTimeout };
    default:
      return code?.startsWith('HPE_') === true ? { response: BAD_REQUEST, reason: Http1GuardReason.BadRequest } : undefined;
  }
}
