import { request } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ClientConnection } from '../../../sidecar/http1/clientConnection.js';
import { serializeRequestHead } from '../../../sidecar/http1/requestHead.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { CLIENT_LIMITS, RecordingExchange, type ResponseVerdict } from '../../helpers/leanHttp1.js';

/**
 * The lean engine's response parsing against Node's client (llhttp), over real sockets: a server
 * answers every request with the same raw bytes and closes, and each engine says what it made of them
 * — the same head, body and trailers, or a refusal. Where the lean engine is stricter by design, the
 * case says so, and Node must accept what the lean engine refuses, never the other way round.
 */

interface Case {
  readonly name: string;
  readonly bytes: string;
  readonly method?: string;
  /** The lean engine refuses what llhttp takes, and why. */
  readonly stricter?: string;
}

const CL = 'Content-Length';
const TE = 'Transfer-Encoding';

const CASES: readonly Case[] = [
  // Valid responses.
  { name: 'Content-Length body', bytes: `HTTP/1.1 200 OK\r\n${CL}: 5\r\n\r\nhello` },
  { name: 'chunked with extensions and trailers', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\nTrailer: x-t\r\n\r\n5;a=b;c="d e"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\nX-T: 2\r\n\r\n` },
  { name: 'chunked after another coding', bytes: `HTTP/1.1 200 OK\r\n${TE}: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { name: 'delimited by the close', bytes: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil the close' },
  { name: 'HTTP/1.0, delimited by the close', bytes: 'HTTP/1.0 200 OK\r\n\r\nold' },
  { name: 'unknown coding, delimited by the close', bytes: `HTTP/1.1 200 OK\r\n${TE}: gzip\r\n\r\nzipped` },
  { name: '204', bytes: 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n' },
  { name: '304 with a Content-Length', bytes: `HTTP/1.1 304 Not Modified\r\n${CL}: 10\r\n\r\n` },
  { name: 'HEAD with a Content-Length', bytes: `HTTP/1.1 200 OK\r\n${CL}: 10\r\n\r\n`, method: 'HEAD' },
  { name: '100 Continue first', bytes: `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n${CL}: 2\r\n\r\nok` },
  { name: '103 Early Hints first', bytes: `HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n${CL}: 2\r\n\r\nok` },
  { name: 'repeated fields, Node shape', bytes: `HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-List: a\r\nSet-Cookie: b=2\r\nX-List: b\r\nContent-Type: a\r\nContent-Type: b\r\nServer: s1\r\nServer: s2\r\n${CL}: 0\r\n\r\n` },
  { name: 'names Object.prototype has', bytes: `HTTP/1.1 200 OK\r\nConstructor: x\r\n__proto__: y\r\ntoString: z\r\n${CL}: 0\r\n\r\n` },
  { name: 'no reason phrase', bytes: `HTTP/1.1 200\r\n${CL}: 0\r\n\r\n` },
  { name: 'empty reason phrase', bytes: `HTTP/1.1 404 \r\n${CL}: 0\r\n\r\n` },
  { name: 'obs-text in a value', bytes: `HTTP/1.1 200 OK\r\nX-A: caf\xe9\r\n${CL}: 0\r\n\r\n` },
  { name: 'whitespace around a value', bytes: `HTTP/1.1 200 OK\r\nX-A: \t v w \t\r\n${CL}: 0\r\n\r\n` },
  { name: 'empty value', bytes: `HTTP/1.1 200 OK\r\nX-A:\r\n${CL}: 0\r\n\r\n` },
  { name: 'Keep-Alive hint', bytes: `HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\n${CL}: 0\r\n\r\n` },
  { name: 'upper-case chunk size', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n` },
  { name: 'status 599', bytes: `HTTP/1.1 599 Custom\r\n${CL}: 0\r\n\r\n` },
  // Hostile or broken responses.
  { name: 'CL and TE', bytes: `HTTP/1.1 200 OK\r\n${CL}: 5\r\n${TE}: chunked\r\n\r\n0\r\n\r\n` },
  { name: 'TE and CL', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\n${CL}: 5\r\n\r\n0\r\n\r\n` },
  { name: 'two equal Content-Lengths', bytes: `HTTP/1.1 200 OK\r\n${CL}: 5\r\n${CL}: 5\r\n\r\nhello` },
  { name: 'two different Content-Lengths', bytes: `HTTP/1.1 200 OK\r\n${CL}: 5\r\n${CL}: 6\r\n\r\nhello!` },
  { name: 'signed Content-Length', bytes: `HTTP/1.1 200 OK\r\n${CL}: +5\r\n\r\nhello` },
  { name: 'Content-Length with a letter', bytes: `HTTP/1.1 200 OK\r\n${CL}: 5a\r\n\r\nhello` },
  { name: 'chunked not last, delimited by the close', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked, gzip\r\n\r\n0\r\n\r\n` },
  { name: 'obs-fold', bytes: `HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n${CL}: 0\r\n\r\n` },
  { name: 'space before the colon', bytes: `HTTP/1.1 200 OK\r\nX-A : a\r\n${CL}: 0\r\n\r\n` },
  { name: 'empty field name', bytes: `HTTP/1.1 200 OK\r\n: a\r\n${CL}: 0\r\n\r\n` },
  { name: 'invalid name character', bytes: `HTTP/1.1 200 OK\r\nX@A: a\r\n${CL}: 0\r\n\r\n` },
  { name: 'bare LF ending a field', bytes: `HTTP/1.1 200 OK\r\nX-A: a\n${CL}: 0\r\n\r\n` },
  { name: 'bare LF ending the status line', bytes: `HTTP/1.1 200 OK\n${CL}: 0\r\n\r\n` },
  { name: 'bare LFs throughout', bytes: `HTTP/1.1 200 OK\n${CL}: 0\n\n` },
  { name: 'NUL in a value', bytes: `HTTP/1.1 200 OK\r\nX-A: a\0b\r\n${CL}: 0\r\n\r\n` },
  { name: 'bare CR in a value', bytes: `HTTP/1.1 200 OK\r\nX-A: a\rb\r\n${CL}: 0\r\n\r\n` },
  { name: 'bad chunk size', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n` },
  { name: 'empty chunk extension', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n` },
  { name: 'chunk data without its CRLF', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n` },
  { name: 'chunk size overflowing 64 bits', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n` },
  { name: 'bare LF after a chunk size', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n` },
  { name: 'head over 16 KiB', bytes: `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n${CL}: 0\r\n\r\n` },
  { name: 'four-digit status', bytes: `HTTP/1.1 2000 OK\r\n${CL}: 0\r\n\r\n` },
  { name: 'two-digit status', bytes: `HTTP/1.1 20 OK\r\n${CL}: 0\r\n\r\n` },
  { name: 'HTTP/2.0 status line', bytes: `HTTP/2.0 200 OK\r\n${CL}: 0\r\n\r\n`, stricter: 'an HTTP/1.1 request answered in another version is not an HTTP/1.1 response to frame' },
  { name: 'not HTTP at all', bytes: 'hello world\r\n\r\n' },
  { name: 'body cut short by the close', bytes: `HTTP/1.1 200 OK\r\n${CL}: 10\r\n\r\nhello` },
  { name: 'chunked cut short by the close', bytes: `HTTP/1.1 200 OK\r\n${TE}: chunked\r\n\r\n5\r\nhello\r\n` },
  { name: 'head cut short by the close', bytes: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n' },
  { name: 'nothing before the close', bytes: '' },
  // Node's client, with no 'upgrade' listener, leaves the request unanswered; the lean engine fails it.
  { name: 'unrequested 101', bytes: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n' },
];

/** A server answering every connection's first read with `bytes`, then closing. */
async function answering(bytes: string): Promise<number> {
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end(Buffer.from(bytes, 'latin1')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

function nodeVerdict(port: number, method: string): Promise<ResponseVerdict> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path: '/', agent: false });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, code: error.code ?? error.message }));
    req.on('close', () => resolve({ ok: false, code: 'closed without a response' }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => undefined);
      res.on('end', () => resolve({ ok: true, status: res.statusCode ?? 0, headers: { ...res.headers }, body: Buffer.concat(chunks).toString('latin1'), trailers: res.rawTrailers.length === 0 ? undefined : { ...res.trailers } }));
      res.on('close', () => {
        if (!res.complete) resolve({ ok: false, code: 'aborted' });
      });
    });
    req.end();
  });
}

async function leanVerdictOver(port: number, method: string): Promise<ResponseVerdict> {
  const socket = connect({ host: '127.0.0.1', port });
  onCleanup(() => socket.destroy());
  const connection = new ClientConnection(socket, CLIENT_LIMITS, { idle: () => undefined, connectionClosed: () => undefined, mayReuse: () => true });
  const exchange = new RecordingExchange(true);
  exchange.connection = connection;
  connection.send(exchange, method, serializeRequestHead(method, '/', { host: 'test' }, false), false, false);
  return exchange.verdict;
}

describe('lean HTTP/1.1 response parsing, against Node’s client', () => {
  it.each(CASES)('$name: the same verdict', async ({ bytes, method = 'GET', stricter }) => {
    const port = await answering(bytes);
    const node = await nodeVerdict(port, method);
    const lean = await leanVerdictOver(port, method);
    const context = `node ${JSON.stringify(node)}, lean ${JSON.stringify(lean)}`;
    if (stricter !== undefined) {
      expect(lean.ok, context).toBe(false);
      expect(node.ok, `${context}: no longer stricter than Node (${stricter})`).toBe(true);
      return;
    }
    if (!node.ok) {
      expect(lean.ok, context).toBe(false);
      return;
    }
    expect(lean, context).toEqual(node);
  });
});
