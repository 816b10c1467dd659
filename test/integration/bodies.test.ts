import { describe, expect, it } from 'vitest';
import {
  digest,
  PROTOCOL_PAIRS,
  proxyFor,
  pseudoRandomBytes,
  pseudoRandomStream,
  send,
  streamRequest,
  type BackendExchange,
  whenBodyArrives,
} from '../helpers/protocolPairs.js';

const LARGE = 64 * 1024 * 1024;

/** Digests of the two large payloads, computed once (by streaming) for all pairs. */
let expectedLarge: Promise<Array<{ bytes: number; sha256: string }>> | undefined;
const largeDigests = (): Promise<Array<{ bytes: number; sha256: string }>> =>
  (expectedLarge ??= Promise.all([digest(pseudoRandomStream(LARGE, 1)), digest(pseudoRandomStream(LARGE, 2))]));

/** What the backend received, filled in once the request body has ended. */
interface Received {
  exchange: BackendExchange;
  body: Buffer;
}

describe.each(PROTOCOL_PAIRS)('bodies, $label', (pair) => {
  const isH1 = (side: 'downstream' | 'upstream'): boolean => pair[side] === 'http1';

  it('carries Content-Length request and response bodies byte-exact', async () => {
    const upload = pseudoRandomBytes(100_000, 3);
    const download = pseudoRandomBytes(150_000, 4);
    let received: Received | undefined;
    const port = await proxyFor(pair, (exchange) => {
      whenBodyArrives(exchange, (body) => {
        received = { exchange, body };
        exchange.respond(200, { 'content-length': download.length });
        exchange.end(download);
      });
    });
    const response = await send(pair.downstream, port, { method: 'POST', headers: { 'content-length': upload.length }, body: upload });
    expect(response.status).toBe(200);
    expect(received?.exchange.headers['content-length']).toBe(String(upload.length));
    expect(received?.exchange.headers['transfer-encoding']).toBeUndefined();
    expect(received?.body.length).toBe(upload.length);
    expect(received?.body.equals(upload)).toBe(true);
    expect(response.headers['content-length']).toBe(String(download.length));
    expect(response.body.length).toBe(download.length);
    expect(response.body.equals(download)).toBe(true);
    expect(response.rstCode).toBe(0);
  });

  it('streams bodies written in several pieces without Content-Length', async () => {
    const pieces = [pseudoRandomBytes(1000, 5), pseudoRandomBytes(70_000, 6), pseudoRandomBytes(3, 7)];
    const replyPieces = [pseudoRandomBytes(5000, 8), pseudoRandomBytes(1, 9), pseudoRandomBytes(90_000, 10)];
    let received: Received | undefined;
    const port = await proxyFor(pair, (exchange) => {
      whenBodyArrives(exchange, (body) => {
        received = { exchange, body };
        const sink = exchange.respond(200, { 'content-type': 'application/octet-stream' });
        for (const piece of replyPieces.slice(0, -1)) sink.write(piece);
        exchange.end(replyPieces.at(-1));
      });
    });
    const response = await send(pair.downstream, port, { method: 'POST', body: pieces });
    expect(response.status).toBe(200);
    expect(received?.exchange.headers['content-length']).toBeUndefined();
    // HTTP/1.1 can only frame a body of unknown length as chunked; HTTP/2 needs no framing header.
    expect(received?.exchange.headers['transfer-encoding']).toBe(isH1('upstream') ? 'chunked' : undefined);
    expect(received?.body.equals(Buffer.concat(pieces))).toBe(true);
    expect(response.headers['content-length']).toBeUndefined();
    expect(response.headers['transfer-encoding']).toBe(isH1('downstream') ? 'chunked' : undefined);
    expect(response.body.equals(Buffer.concat(replyPieces))).toBe(true);
    expect(response.rstCode).toBe(0);
  });

  it.each(['GET', 'POST', 'DELETE'])('sends a bodiless %s upstream without adding body framing', async (method) => {
    let received: Received | undefined;
    const port = await proxyFor(pair, (exchange) => {
      whenBodyArrives(exchange, (body) => {
        received = { exchange, body };
        exchange.respond(200, { 'content-length': 2 });
        exchange.end('ok');
      });
    });
    const response = await send(pair.downstream, port, { method });
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('ok');
    expect(received?.exchange.method).toBe(method);
    expect(received?.body.length).toBe(0);
    expect(received?.exchange.headers['transfer-encoding']).toBeUndefined();
    expect(['0', undefined]).toContain(received?.exchange.headers['content-length']);
    // On HTTP/2 the request HEADERS frame itself ends the stream: no DATA frame follows.
    if (!isH1('upstream')) expect(received?.exchange.headEndedStream).toBe(true);
  });

  it.each(['GET', 'DELETE', 'OPTIONS'])('frames a %s request body of unknown length for the upstream', async (method) => {
    // Unframed on an HTTP/1.1 connection, these bytes would be read as a second request.
    const body = [Buffer.from('GET /smuggled HTTP/1.1\r\nhost: x\r\n'), Buffer.from('\r\n')];
    const requests: Array<{ path: string; body: string }> = [];
    const port = await proxyFor(pair, (exchange) => {
      whenBodyArrives(exchange, (received) => {
        requests.push({ path: exchange.path, body: received.toString() });
        exchange.respond(200, { 'content-length': 2 });
        exchange.end('ok');
      });
    });
    // Node's HTTP/1.1 client frames these methods' bodies only when told to.
    const headers = isH1('downstream') ? { 'transfer-encoding': 'chunked' } : {};
    const response = await send(pair.downstream, port, { method, path: '/first', headers, body });
    expect(response.status).toBe(200);
    expect(requests).toEqual([{ path: '/first', body: Buffer.concat(body).toString() }]);
  });

  it('carries an empty response body', async () => {
    const port = await proxyFor(pair, (exchange) => {
      exchange.respond(200, { 'content-length': 0, 'x-empty': 'yes' });
      exchange.end();
    });
    const response = await send(pair.downstream, port);
    expect(response.status).toBe(200);
    expect(response.headers['x-empty']).toBe('yes');
    expect(response.headers['content-length']).toBe('0');
    expect(response.body.length).toBe(0);
    expect(response.rstCode).toBe(0);
  });

  it('answers HEAD with the Content-Length but no body', async () => {
    let method: string | undefined;
    const port = await proxyFor(pair, (exchange) => {
      method = exchange.method;
      exchange.respond(200, { 'content-length': 11, 'content-type': 'text/plain' });
      exchange.end();
    });
    const response = await send(pair.downstream, port, { method: 'HEAD' });
    expect(method).toBe('HEAD');
    expect(response.status).toBe(200);
    expect(response.headers['content-length']).toBe('11');
    expect(response.headers['content-type']).toBe('text/plain');
    expect(response.body.length).toBe(0);
    expect(response.rstCode).toBe(0);
  });

  it.each([204, 304])('forwards a %i response without a body', async (status) => {
    const port = await proxyFor(pair, (exchange) => {
      exchange.respond(status, { etag: '"v1"' });
      exchange.end();
    });
    const response = await send(pair.downstream, port, { headers: { 'if-none-match': '"v1"' } });
    expect(response.status).toBe(status);
    expect(response.headers.etag).toBe('"v1"');
    expect(response.headers['content-length']).toBeUndefined();
    expect(response.headers['transfer-encoding']).toBeUndefined();
    expect(response.body.length).toBe(0);
    expect(response.rstCode).toBe(0);
  });

  it('carries a 64 MiB request body byte-exact', async () => {
    const port = await proxyFor(pair, (exchange) => {
      digest(exchange.body).then(
        (seen) => {
          exchange.respond(200, { 'content-type': 'application/json' });
          exchange.end(JSON.stringify(seen));
        },
        () => undefined, // cut short: nothing to answer
      );
    });
    const response = await streamRequest(
      pair.downstream,
      port,
      { method: 'PUT', headers: { 'content-length': LARGE }, body: pseudoRandomStream(LARGE, 1) },
      true,
    );
    const [upload] = await largeDigests();
    expect(response.status).toBe(200);
    expect(JSON.parse(String(response.body))).toEqual(upload);
  });

  it('carries a 64 MiB response body byte-exact', async () => {
    const port = await proxyFor(pair, (exchange) => {
      pseudoRandomStream(LARGE, 2).pipe(exchange.respond(200, { 'content-length': LARGE }));
    });
    const response = await streamRequest(pair.downstream, port, { method: 'GET' });
    const [, download] = await largeDigests();
    expect(response.status).toBe(200);
    expect(response.headers['content-length']).toBe(String(LARGE));
    expect({ bytes: response.bytes, sha256: response.sha256 }).toEqual(download);
    expect(response.rstCode).toBe(0);
  });
});
