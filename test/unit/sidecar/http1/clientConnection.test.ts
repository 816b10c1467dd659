import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { ClientConnection } from '../../../../sidecar/http1/clientConnection.js';
import { CLIENT_LIMITS, FakeSocket, leanVerdict, RecordingExchange } from '../../../helpers/leanHttp1.js';

/** Response bytes built from the pieces malformed and smuggling responses are made of. */
const responseBytes = fc
  .record({
    status: fc.constantFrom('200 OK', '204 No Content', '304 Not Modified', '100 Continue\r\n\r\nHTTP/1.1 200 OK', '200', '999 X', '20 short'),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0'),
    fields: fc.array(
      fc.constantFrom('Content-Length: 5', 'Content-Length: 0', 'Content-Length: +5', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: chunked, gzip', 'Connection: close', 'X-A: a\r\n b', 'X-B : b', 'Set-Cookie: a=1', 'X-Nul: a\0b', 'Keep-Alive: timeout=1'),
      { maxLength: 3 },
    ),
    eol: fc.constantFrom('\r\n', '\r\n', '\n'),
    body: fc.constantFrom('', 'hello', '5\r\nhello\r\n0\r\n\r\n', '5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n', '5x\r\nhello\r\n0\r\n\r\n', 'helloHTTP/1.1 200 OK\r\n\r\n'),
  })
  .map(({ status, version, fields, eol, body }) => Buffer.from(`${version} ${status}${eol}${fields.map((field) => `${field}\r\n`).join('')}\r\n${body}`, 'latin1'));

const anyBytes = fc.oneof(responseBytes, fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)));

function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(from, point));
    from = point;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}

describe('lean ClientConnection parsing a response', () => {
  it('gives any bytes a verdict, without throwing or hanging, the same whole or split at any points, body taken at once or later', async () => {
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(anyBytes, fc.array(fc.nat(), { maxLength: 5 }), fc.constantFrom('GET', 'HEAD'), fc.boolean(), async (bytes, cuts, method, later) => {
        const whole = await leanVerdict([bytes], method);
        const pieces = await leanVerdict(split(bytes, cuts), method, later);
        expect(pieces).toEqual(whole);
        if (whole.ok) seen.accepted++;
        else seen.refused++;
      }),
      { numRuns: 400 },
    );
    // Both verdicts were exercised, not one failure mode everywhere.
    expect(seen.accepted).toBeGreaterThan(20);
    expect(seen.refused).toBeGreaterThan(20);
  });

  it('reads a keep-alive response, a chunked one with trailers, and one delimited by the close', async () => {
    expect(await leanVerdict([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello')])).toEqual({ ok: true, status: 200, headers: { 'content-length': '5' }, body: 'hello', trailers: undefined });
    expect(await leanVerdict([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nGrpc-Status: 0\r\n\r\n')])).toMatchObject({ ok: true, body: 'hello', trailers: { 'grpc-status': '0' } });
    expect(await leanVerdict([Buffer.from('HTTP/1.0 200 OK\r\n\r\nuntil '), Buffer.from('the end')])).toMatchObject({ ok: true, body: 'until the end' });
  });

  it('skips interim responses and refuses an upgrade nobody asked for', async () => {
    expect(await leanVerdict([Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n')])).toMatchObject({ ok: true, status: 201 });
    expect(await leanVerdict([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n')])).toEqual({ ok: false, code: 'HPE_PAUSED_UPGRADE' });
  });

  it('fails a response cut short by the close, and one followed by bytes it did not frame', async () => {
    expect(await leanVerdict([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello')])).toEqual({ ok: false, code: 'ECONNRESET' });
    expect(await leanVerdict([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n')])).toMatchObject({ ok: true, body: 'hello' });
  });

  it('keeps a body held for the proxy when the upstream closes right after it', async () => {
    const bytes = Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello');
    expect(await leanVerdict([bytes], 'GET', true)).toMatchObject({ ok: true, body: 'hello' });
    expect(await leanVerdict([Buffer.from('HTTP/1.1 200 OK\r\n\r\nto the close')], 'GET', true)).toMatchObject({ ok: true, body: 'to the close' });
  });

  it('goes idle after a keep-alive exchange, carries the next, and closes on bytes nobody asked for', async () => {
    const socket = new FakeSocket();
    const idle: ClientConnection[] = [];
    const connection = new ClientConnection(socket as unknown as Socket, CLIENT_LIMITS, { idle: (c) => idle.push(c), connectionClosed: () => undefined, mayReuse: () => true });
    for (const body of ['one', 'two']) {
      const exchange = new RecordingExchange();
      exchange.connection = connection;
      connection.send(exchange, 'GET', 'GET / HTTP/1.1\r\nhost: a\r\n\r\n', false, false);
      socket.feed(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n${body}`));
      expect(await exchange.verdict).toMatchObject({ ok: true, body });
    }
    expect(idle).toEqual([connection, connection]);
    expect(connection.requests).toBe(2);
    socket.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
    expect(socket.destroyed).toBe(true);
  });

  it('does not reuse a connection the server asked to close, or whose keep-alive hint is a second or less', async () => {
    for (const field of ['Connection: close', 'Keep-Alive: timeout=1']) {
      const socket = new FakeSocket();
      const idle: ClientConnection[] = [];
      const connection = new ClientConnection(socket as unknown as Socket, CLIENT_LIMITS, { idle: (c) => idle.push(c), connectionClosed: () => undefined, mayReuse: () => true });
      const exchange = new RecordingExchange();
      exchange.connection = connection;
      connection.send(exchange, 'GET', 'GET / HTTP/1.1\r\nhost: a\r\n\r\n', false, false);
      socket.feed(Buffer.from(`HTTP/1.1 200 OK\r\n${field}\r\nContent-Length: 0\r\n\r\n`));
      expect(await exchange.verdict, field).toMatchObject({ ok: true, status: 200 });
      expect(idle, field).toEqual([]);
      expect(socket.destroyed, field).toBe(true);
    }
  });
});
