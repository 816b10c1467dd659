import { describe, expect, it } from 'vitest';
import { differentialListener, exchange, type DifferentialListener, type WireOutcome } from './rawServerExchange.js';

/**
 * The lean engine's server side against Node's `http.Server` with Tandem's guards, over real sockets:
 * the same raw request bytes go to a listener on each engine, in front of the same recording service,
 * and each must give the client the same responses byte for byte (status line, header lines in order —
 * `Date` values masked —, body, trailers, whether the connection closed), hand the service the same
 * requests, and count the same guard reasons. Chunk boundaries may differ (they follow reads and
 * writes); everything else is compared.
 */

interface Case {
  readonly name: string;
  readonly bytes: string;
  /** Responses to wait for (pipelining, 100 Continue); 1 unless given. */
  readonly responses?: number;
  /** Which of the responses answer HEAD. */
  readonly heads?: readonly number[];
  /** The client closes its side after sending. */
  readonly finish?: boolean;
  /** Node's server takes it and the lean engine refuses it (400), and why. */
  readonly stricter?: string;
  /** Both end the same way (the last response, the guard reasons, the close) but not through the same responses before it, and why. */
  readonly sameEnding?: string;
}

const H = 'Host: app\r\n';
const CL = 'Content-Length';
const TE = 'Transfer-Encoding';
const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\n${H}${extra}\r\n`;

const CASES: readonly Case[] = [
  // Valid requests.
  { name: 'GET', bytes: get('/a?b=c') },
  { name: 'GET with repeated and cased fields', bytes: get('/a', 'X-List: 1\r\nX-LIST: 2\r\nCookie: a=1\r\nCookie: b=2\r\nUser-Agent: one\r\nUser-Agent: two\r\n') },
  { name: 'names Object.prototype has', bytes: get('/a', 'Constructor: x\r\n__proto__: y\r\ntoString: z\r\n') },
  { name: 'POST with Content-Length', bytes: `POST /up HTTP/1.1\r\n${H}${CL}: 5\r\n\r\nhello` },
  { name: 'POST with Content-Length 0', bytes: `POST /up HTTP/1.1\r\n${H}${CL}: 0\r\n\r\n` },
  { name: 'POST with Content-Length 00', bytes: `POST /up HTTP/1.1\r\n${H}${CL}: 00\r\n\r\n` },
  { name: 'chunked upload with extensions and trailers', bytes: `POST /up HTTP/1.1\r\n${H}${TE}: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n` },
  { name: 'chunked upload, coding in capitals', bytes: `POST /up HTTP/1.1\r\n${H}${TE}: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n` },
  { name: 'HEAD', bytes: `HEAD /a HTTP/1.1\r\n${H}\r\n`, heads: [0] },
  { name: 'HEAD of a chunked response', bytes: `HEAD /chunked HTTP/1.1\r\n${H}\r\n`, heads: [0] },
  { name: 'chunked response', bytes: get('/chunked') },
  { name: 'chunked response with trailers', bytes: get('/trailers') },
  { name: '204', bytes: get('/no-content') },
  { name: 'empty body framed by length', bytes: get('/empty') },
  { name: 'set-cookie list', bytes: get('/cookies') },
  { name: 'a local reply', bytes: get('/fail') },
  { name: 'HEAD of a local reply', bytes: `HEAD /fail HTTP/1.1\r\n${H}\r\n`, heads: [0] },
  { name: 'an upstream head HTTP/1.1 cannot carry', bytes: get('/bad-header') },
  { name: 'Connection: close', bytes: get('/a', 'Connection: close\r\n') },
  { name: 'pipelined', bytes: get('/one') + `POST /two HTTP/1.1\r\n${H}${CL}: 3\r\n\r\nabc` + get('/three'), responses: 3 },
  {
    name: 'pipelined, bytes after the one closing',
    bytes: get('/one') + get('/two', 'Connection: close\r\n') + get('/never'),
    responses: 2,
    sameEnding: 'Node hands both good requests to the service before its parser reaches the fault; the lean engine serves one request at a time, so it has handed over /one only when it finds the fault further on in the read',
  },
  { name: 'pipelined, a malformed request after a good one', bytes: get('/one') + 'BREW /pot HTTP/1.1\r\n\r\n' },
  { name: 'pipelined, a hidden request in an unframed body', bytes: `${get('/case', 'X-Note: chunked\r\n')}5\r\nhello\r\n0\r\n\r\n${get('/smuggled')}` },
  { name: 'pipelined with a HEAD between', bytes: get('/one') + `HEAD /two HTTP/1.1\r\n${H}\r\n` + get('/chunked'), responses: 3, heads: [1] },
  { name: 'empty lines before a request', bytes: `\r\n\r\n${get('/a')}` },
  { name: 'Expect: 100-continue', bytes: `POST /up HTTP/1.1\r\n${H}Expect: 100-continue\r\n${CL}: 2\r\n\r\nhi`, responses: 2 },
  { name: 'an expectation other than 100-continue', bytes: `POST /up HTTP/1.1\r\n${H}Expect: teapot\r\n${CL}: 2\r\n\r\nhi` },
  { name: 'HTTP/1.0', bytes: `GET /a HTTP/1.0\r\n\r\n` },
  { name: 'HTTP/1.0 keep-alive', bytes: `GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n` },
  { name: 'HTTP/1.0 keep-alive, chunked response', bytes: `GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n` },
  { name: 'HTTP/1.0 chunked response', bytes: `GET /chunked HTTP/1.0\r\n\r\n` },
  { name: 'HTTP/1.0 with TE: chunked', bytes: `GET /chunked HTTP/1.0\r\nTE: chunked\r\n\r\n` },
  { name: 'absolute-form', bytes: `GET http://orders:8080/p?q=1 HTTP/1.1\r\n${H}\r\n` },
  { name: 'absolute-form, not http', bytes: `GET ftp://orders/p HTTP/1.1\r\n${H}\r\n` },
  { name: 'asterisk-form', bytes: `OPTIONS * HTTP/1.1\r\n${H}\r\n` },
  { name: 'Upgrade', bytes: get('/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\n') },
  { name: 'obs-text in a value', bytes: get('/a', 'X-A: caf\xe9\r\n') },
  { name: 'whitespace around a value', bytes: get('/a', 'X-A: \t v w \t\r\n') },
  { name: 'underscore in a name', bytes: get('/a', 'X_A: 1\r\n') },
  // Smuggling shapes and malformed heads.
  { name: 'CL and TE', bytes: `POST /a HTTP/1.1\r\n${H}${CL}: 5\r\n${TE}: chunked\r\n\r\n0\r\n\r\n` },
  { name: 'TE and CL', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked\r\n${CL}: 5\r\n\r\n0\r\n\r\n` },
  { name: 'two equal Content-Lengths', bytes: `POST /a HTTP/1.1\r\n${H}${CL}: 2\r\n${CL}: 2\r\n\r\nhi` },
  { name: 'signed Content-Length', bytes: `POST /a HTTP/1.1\r\n${H}${CL}: +2\r\n\r\nhi` },
  { name: 'Content-Length with a letter', bytes: `POST /a HTTP/1.1\r\n${H}${CL}: 2a\r\n\r\nhi` },
  { name: 'TE chunked, gzip', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked, gzip\r\n\r\n0\r\n\r\n` },
  { name: 'TE gzip, chunked', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: gzip, chunked\r\n\r\n0\r\n\r\n` },
  { name: 'TE xchunked', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: xchunked\r\n\r\n0\r\n\r\n` },
  { name: 'TE identity', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: identity\r\n\r\n` },
  { name: 'TE twice', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked\r\n${TE}: chunked\r\n\r\n0\r\n\r\n` },
  { name: 'TE on HTTP/1.0', bytes: `POST /a HTTP/1.0\r\n${TE}: chunked\r\n\r\n0\r\n\r\n` },
  { name: 'TE on HTTP/1.0, a request hidden after it', bytes: `POST /a HTTP/1.0\r\n${TE}: chunked\r\n\r\n0\r\n\r\n${get('/smuggled')}` },
  { name: 'bad chunk size', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n` },
  { name: 'a chunk size that cannot start one, without a line end', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked\r\n\r\nhello` },
  { name: 'empty chunk extension', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n` },
  { name: 'chunk data without its CRLF', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n` },
  { name: 'chunk extensions over 16 KiB', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked\r\n\r\n5;a=${'b'.repeat(17 * 1024)}\r\nhello\r\n0\r\n\r\n` },
  { name: 'no Host', bytes: 'GET /a HTTP/1.1\r\n\r\n' },
  { name: 'obs-fold', bytes: get('/a', 'X-A: a\r\n b\r\n') },
  { name: 'space before the colon', bytes: get('/a', 'X-A : a\r\n') },
  { name: 'empty field name', bytes: get('/a', ': a\r\n') },
  { name: 'bare LF ending a field', bytes: `GET /a HTTP/1.1\r\n${H}X-A: a\n\r\n` },
  { name: 'bare LFs throughout', bytes: 'GET /a HTTP/1.1\nHost: app\n\n' },
  { name: 'bare CR in a value', bytes: get('/a', 'X-A: a\rb\r\n') },
  { name: 'NUL in a value', bytes: get('/a', 'X-A: a\0b\r\n') },
  { name: 'HTTP/1.2', bytes: `GET /a HTTP/1.2\r\n${H}\r\n` },
  { name: 'HTTP/2.0 request line', bytes: `GET /a HTTP/2.0\r\n${H}\r\n`, stricter: 'HTTP/2 is spoken from its preface (RFC 9113 §3.4), not announced on an HTTP/1.1 request line' },
  { name: 'lower-case version', bytes: `GET /a http/1.1\r\n${H}\r\n` },
  { name: 'unknown method', bytes: `FOO /a HTTP/1.1\r\n${H}\r\n` },
  { name: 'lower-case method', bytes: `get /a HTTP/1.1\r\n${H}\r\n` },
  { name: 'two spaces after the method', bytes: `GET  /a HTTP/1.1\r\n${H}\r\n`, stricter: 'RFC 9112 §3: one SP between the parts; a proxy that splits on any whitespace may read a target its upstream reads differently' },
  { name: 'target without a slash', bytes: `GET a HTTP/1.1\r\n${H}\r\n` },
  { name: 'CONNECT', bytes: `CONNECT orders:443 HTTP/1.1\r\nHost: orders:443\r\n\r\n` },
  { name: 'head over 8 KiB', bytes: get('/a', `X-Big: ${'a'.repeat(9 * 1024)}\r\n`) },
  { name: 'unfinished head over 8 KiB', bytes: `GET /a HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(9 * 1024)}` },
  { name: 'more than max_headers_count fields', bytes: get('/a', Array.from({ length: 21 }, (_, i) => `X-${i}: ${i}\r\n`).join('')) },
  { name: 'one field over max_headers_count', bytes: get('/a', Array.from({ length: 20 }, (_, i) => `X-${i}: ${i}\r\n`).join('')) },
  { name: 'many more than max_headers_count fields', bytes: get('/a', Array.from({ length: 60 }, (_, i) => `X-${i}: ${i}\r\n`).join('')) },
  { name: 'exactly max_headers_count fields', bytes: get('/a', Array.from({ length: 19 }, (_, i) => `X-${i}: ${i}\r\n`).join('')) },
  { name: 'not HTTP at all', bytes: 'hello world\r\n\r\n' },
  { name: 'not HTTP, without a line end', bytes: 'hello' },
  { name: 'a good request, then bytes that cannot start one', bytes: `${get('/case')}hello` },
  { name: 'a request line still arriving', bytes: 'GET /a HT' },
  // Truncations: cut by a FIN, or left hanging until request_headers_timeout.
  { name: 'head cut short, then FIN', bytes: `GET /a HTTP/1.1\r\n${H}`, finish: true },
  { name: 'body cut short, then FIN', bytes: `POST /a HTTP/1.1\r\n${H}${CL}: 10\r\n\r\nhello`, finish: true },
  { name: 'chunked body cut short, then FIN', bytes: `POST /a HTTP/1.1\r\n${H}${TE}: chunked\r\n\r\n5\r\nhello\r\n`, finish: true },
  { name: 'whole request, then FIN', bytes: get('/a'), finish: true },
  { name: 'head left unfinished', bytes: `GET /a HTTP/1.1\r\n${H}` },
  { name: 'nothing but a request line', bytes: 'GET /a HTTP/1.1\r\n' },
];

async function run(listener: DifferentialListener, c: Case): Promise<{ outcome: WireOutcome; seen: unknown; guarded: string[] }> {
  const seenBefore = listener.seen.length;
  const guardedBefore = listener.guarded.length;
  const outcome = await exchange(listener.port, Buffer.from(c.bytes, 'latin1'), c.responses ?? 1, new Set(c.heads ?? []), c.finish === true);
  return { outcome, seen: listener.seen.slice(seenBefore), guarded: listener.guarded.slice(guardedBefore).sort() };
}

describe('the lean HTTP/1.1 server against Node\'s, request by request', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const [node, lean] = await Promise.all([differentialListener('node'), differentialListener('lean')]);
    const [fromNode, fromLean] = await Promise.all([run(node, c), run(lean, c)]);
    if (c.sameEnding !== undefined) {
      const ending = (from: typeof fromNode): unknown => ({ last: from.outcome.responses.at(-1), closed: from.outcome.closed, guarded: from.guarded });
      expect(ending(fromLean)).toEqual(ending(fromNode));
      expect(fromLean.outcome.responses.at(-1)?.statusLine).toBe('HTTP/1.1 400 Bad Request');
      return;
    }
    if (c.stricter === undefined) {
      expect(fromLean).toEqual(fromNode);
      return;
    }
    expect(fromNode.outcome.responses[0]?.statusLine).toBe('HTTP/1.1 200 OK');
    expect({ status: fromLean.outcome.responses[0]?.statusLine, closed: fromLean.outcome.closed, seen: fromLean.seen, guarded: fromLean.guarded }).toEqual({ status: 'HTTP/1.1 400 Bad Request', closed: true, seen: [], guarded: ['http1_bad_request'] });
  });
});
