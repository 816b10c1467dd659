import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { PROTOCOL_PAIRS, proxyFor, send, type BackendExchange } from '../helpers/protocolPairs.js';

/** A body in two writes, then `trailers` (HTTP/1.1: chunked trailer section; HTTP/2: a trailing HEADERS frame). */
function bodyThenTrailers(trailers: Record<string, string>) {
  return (exchange: BackendExchange): void => {
    const sink = exchange.respond(200, { 'content-type': 'text/plain' }, { trailers: true });
    sink.write('first,');
    exchange.end('second', trailers);
  };
}

describe.each(PROTOCOL_PAIRS)('trailers, $label', (pair) => {
  it('forwards response trailers after the body', async () => {
    const port = await proxyFor(pair, bodyThenTrailers({ 'x-checksum': 'c0ffee', 'x-outcome': 'done' }));
    const response = await send(pair.downstream, port);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('first,second');
    expect(response.trailers).toMatchObject({ 'x-checksum': 'c0ffee', 'x-outcome': 'done' });
    expect(response.rstCode).toBe(0);
    // HTTP/1.1 can carry trailers only after a chunked body.
    if (pair.downstream === 'http1') expect(response.headers['transfer-encoding']).toBe('chunked');
  });

  it('forwards trailers that follow an empty body', async () => {
    const port = await proxyFor(pair, (exchange) => {
      exchange.respond(200, {}, { trailers: true });
      exchange.end(undefined, { 'x-outcome': 'nothing to send' });
    });
    const response = await send(pair.downstream, port);
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(0);
    expect(response.trailers).toMatchObject({ 'x-outcome': 'nothing to send' });
    expect(response.rstCode).toBe(0);
  });

  // Bounded: a trailer section HTTP/2 refuses leaves the stream open if Tandem passes it on.
  it('drops connection-specific fields from trailers', { timeout: 10_000 }, async () => {
    // Node's HTTP/2 server refuses connection-specific trailer fields outright; an HTTP/1.1 one sends anything.
    const hopByHop: Record<string, string> = pair.upstream === 'http1' ? { 'proxy-foo': 'bar', 'keep-alive': 'timeout=1', connection: 'close' } : { 'proxy-foo': 'bar' };
    const port = await proxyFor(pair, bodyThenTrailers({ 'x-checksum': 'c0ffee', ...hopByHop }));
    const response = await send(pair.downstream, port);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('first,second');
    expect(response.trailers?.['x-checksum']).toBe('c0ffee');
    for (const name of Object.keys(hopByHop)) expect(response.trailers, name).not.toHaveProperty(name);
    expect(response.rstCode).toBe(0);
  });

  it('ends a response that has no trailers without a trailer section', async () => {
    const port = await proxyFor(pair, (exchange) => {
      const sink = exchange.respond(200, { 'content-type': 'text/plain' });
      sink.write('first,');
      exchange.end('second');
    });
    const response = await send(pair.downstream, port);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('first,second');
    expect(response.trailers).toBeUndefined();
    expect(response.rstCode).toBe(0);
  });
});

describe.each(PROTOCOL_PAIRS.filter((pair) => pair.downstream === 'http2'))('HTTP/2 stream ending, $label', (pair) => {
  it('ends a body without trailers with END_STREAM on DATA, never RST_STREAM', async () => {
    const port = await proxyFor(pair, (exchange) => {
      exchange.respond(200, { 'content-type': 'text/plain' });
      exchange.end('whole body');
    });
    const frames = await rawH2Get(port);
    const types = frames.map((frame) => frame.type);
    expect(types).not.toContain(FRAME.RST_STREAM);
    expect(types[0]).toBe(FRAME.HEADERS);
    expect(types.slice(1).every((type) => type === FRAME.DATA)).toBe(true); // no trailing HEADERS
    expect((frames.at(-1)?.flags ?? 0) & END_STREAM).toBe(END_STREAM);
    expect(Buffer.concat(frames.slice(1).map((frame) => frame.payload)).toString()).toBe('whole body');
  });
});

const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7 } as const;
const END_STREAM = 0x1;
const ACK = 0x1;

interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly payload: Buffer;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/**
 * `GET /` on stream 1 over a raw h2c connection, so the frames that close the stream are seen as
 * sent (Node's client reports a clean END_STREAM and an RST_STREAM(NO_ERROR) alike). Resolves with
 * stream 1's frames up to and including the one that ends it.
 */
function rawH2Get(port: number): Promise<Frame[]> {
  const authority = Buffer.from('svc');
  // HPACK: indexed :method GET (2), :scheme http (6), :path / (4); :authority (1) as a literal without indexing.
  const block = Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x01, authority.length]), authority]);
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    onCleanup(() => socket.destroy());
    const frames: Frame[] = [];
    let buffered = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection closed after frames ${JSON.stringify(frames.map((f) => f.type))}`)));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9 && buffered.length >= 9 + buffered.readUIntBE(0, 3)) {
        const length = buffered.readUIntBE(0, 3);
        const type = buffered.readUInt8(3);
        const flags = buffered.readUInt8(4);
        const streamId = buffered.readUInt32BE(5) & 0x7fffffff;
        const payload = buffered.subarray(9, 9 + length);
        buffered = buffered.subarray(9 + length);
        if (type === FRAME.SETTINGS && (flags & ACK) === 0) socket.write(frame(FRAME.SETTINGS, ACK, 0));
        if (type === FRAME.GOAWAY) reject(new Error('GOAWAY from Tandem'));
        if (streamId !== 1) continue;
        frames.push({ type, flags, payload });
        if (type === FRAME.RST_STREAM || (flags & END_STREAM) !== 0) resolve(frames);
      }
    });
    socket.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
        frame(FRAME.SETTINGS, 0, 0),
        frame(FRAME.HEADERS, END_STREAM | 0x4 /* END_HEADERS */, 1, block),
      ]),
    );
  });
}
