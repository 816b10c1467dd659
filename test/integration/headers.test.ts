import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { h2Session } from '../helpers/clients.js';
import {
  PROTOCOL_PAIRS,
  proxyFor,
  send,
  type BackendExchange,
  type Fields,
  type OutFields,
  type Protocol,
  type ProtocolPair,
  whenBodyArrives,
} from '../helpers/protocolPairs.js';
import { waitFor } from '../helpers/wait.js';

/** A backend that answers every request with 200 and remembers what it received. */
async function recordingProxy(pair: ProtocolPair): Promise<{ port: number; seen: BackendExchange[]; bodies: Buffer[] }> {
  const seen: BackendExchange[] = [];
  const bodies: Buffer[] = [];
  const port = await proxyFor(pair, (exchange) => {
    whenBodyArrives(exchange, (body) => {
      seen.push(exchange);
      bodies.push(body);
      exchange.respond(200, { 'content-length': 2 });
      exchange.end('ok');
    });
  });
  return { port, seen, bodies };
}

/** Hop-by-hop request headers each client can send: Node refuses connection-specific fields on HTTP/2. */
const HOP_BY_HOP_REQUEST: Record<Protocol, OutFields> = {
  http1: {
    connection: 'x-foo, X-Bar, upgrade, http2-settings',
    'x-foo': '1',
    'x-bar': '2',
    'keep-alive': 'timeout=5',
    upgrade: 'h2c',
    'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA',
    'proxy-connection': 'keep-alive',
    'proxy-authorization': 'Basic dXNlcjpwYXNz',
  },
  http2: { 'proxy-authorization': 'Basic dXNlcjpwYXNz', 'proxy-foo': 'bar' },
};

/** Hop-by-hop response headers each backend can send (again, Node's HTTP/2 server refuses the rest). */
const HOP_BY_HOP_RESPONSE: Record<Protocol, OutFields> = {
  http1: {
    connection: 'x-foo',
    'x-foo': '1',
    'keep-alive': 'timeout=7, max=3',
    upgrade: 'h2c',
    'proxy-foo': 'bar',
    'proxy-authenticate': 'Basic realm="backend"',
  },
  http2: { 'proxy-foo': 'bar', 'proxy-authenticate': 'Basic realm="backend"' },
};

describe.each(PROTOCOL_PAIRS)('headers, $label', (pair) => {
  it('strips hop-by-hop headers, and those Connection names, from the request', async () => {
    const { port, seen, bodies } = await recordingProxy(pair);
    const sent = { ...HOP_BY_HOP_REQUEST[pair.downstream], 'x-end-to-end': 'kept' };
    // Two writes without a length: an HTTP/1.1 client sends Transfer-Encoding: chunked.
    const response = await send(pair.downstream, port, { method: 'POST', headers: sent, body: [Buffer.from('ab'), Buffer.from('cd')] });
    expect(response.status).toBe(200);
    const received = seen[0]?.headers ?? {};
    for (const name of Object.keys(sent)) if (name !== 'x-end-to-end' && name !== 'connection') expect(received, name).not.toHaveProperty(name);
    expect(received['x-end-to-end']).toBe('kept');
    expect(bodies[0]?.toString()).toBe('abcd');
    // Framing is per hop: only Tandem's own chunked framing may reach an HTTP/1.1 backend.
    expect(received['transfer-encoding']).toBe(pair.upstream === 'http1' ? 'chunked' : undefined);
    // Connection, if present at all, is Tandem's own for its pooled connection.
    if (pair.upstream === 'http1') expect(received.connection ?? 'keep-alive').toBe('keep-alive');
    else expect(received).not.toHaveProperty('connection');
  });

  it('strips hop-by-hop headers, and those Connection names, from the response', async () => {
    const backendHeaders = { ...HOP_BY_HOP_RESPONSE[pair.upstream], 'x-end-to-end': 'kept' };
    const port = await proxyFor(pair, (exchange) => {
      const sink = exchange.respond(200, backendHeaders); // no length: chunked from an HTTP/1.1 backend
      sink.write('ab');
      exchange.end('cd');
    });
    const response = await send(pair.downstream, port);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('abcd');
    expect(response.headers['x-end-to-end']).toBe('kept');
    for (const name of ['x-foo', 'upgrade', 'proxy-foo', 'proxy-authenticate']) expect(response.headers, name).not.toHaveProperty(name);
    // Connection and Keep-Alive, if present at all, are Tandem's own for this hop.
    expect(String(response.headers.connection ?? '')).not.toContain('x-foo');
    expect(response.headers['keep-alive']).not.toBe('timeout=7, max=3');
    if (pair.downstream === 'http2') {
      for (const name of ['connection', 'keep-alive', 'transfer-encoding']) expect(response.headers, name).not.toHaveProperty(name);
    }
  });

  it('keeps TE: trailers on the request', async () => {
    const { port, seen } = await recordingProxy(pair);
    await send(pair.downstream, port, { headers: { te: 'trailers' } });
    expect(seen[0]?.headers.te).toBe('trailers');
  });

  it('sets x-forwarded-for to the client address, appending to an existing value', async () => {
    const { port, seen } = await recordingProxy(pair);
    await send(pair.downstream, port);
    await send(pair.downstream, port, { headers: { 'x-forwarded-for': '203.0.113.7, 198.51.100.2' } });
    expect(seen.map((exchange) => exchange.headers['x-forwarded-for'])).toEqual(['127.0.0.1', '203.0.113.7, 198.51.100.2, 127.0.0.1']);
  });

  it('sets x-forwarded-proto to http when absent and keeps a value already there', async () => {
    const { port, seen } = await recordingProxy(pair);
    await send(pair.downstream, port);
    await send(pair.downstream, port, { headers: { 'x-forwarded-proto': 'https' } });
    expect(seen.map((exchange) => exchange.headers['x-forwarded-proto'])).toEqual(['http', 'https']);
  });

  it('sets x-forwarded-host to the host the client asked for when absent and keeps a value already there', async () => {
    const { port, seen } = await recordingProxy(pair);
    const authority = 'orders.example:8080';
    const host = pair.downstream === 'http1' ? { host: authority } : { ':authority': authority };
    await send(pair.downstream, port, { headers: host });
    await send(pair.downstream, port, { headers: { ...host, 'x-forwarded-host': 'shop.example.com' } });
    expect(seen.map((exchange) => exchange.headers['x-forwarded-host'])).toEqual([authority, 'shop.example.com']);
  });

  it('forwards Host / :authority unchanged', async () => {
    const { port, seen } = await recordingProxy(pair);
    const authority = 'Orders.example:8443';
    await send(pair.downstream, port, { headers: pair.downstream === 'http1' ? { host: authority } : { ':authority': authority } });
    expect(seen[0]?.authority).toBe(authority);
    // An HTTP/2 request carries the authority once: no Host that could disagree with it.
    if (pair.upstream === 'http2') expect([undefined, authority]).toContain(seen[0]?.headers.host);
  });

  it('answers Expect: 100-continue itself and does not forward the expectation', async () => {
    const { port, seen, bodies } = await recordingProxy(pair);
    const body = Buffer.from('after continue');
    const result = await expectContinue(pair.downstream, port, body);
    expect(result.status).toBe(200);
    expect(seen[0]?.headers).not.toHaveProperty('expect');
    expect(bodies[0]?.equals(body)).toBe(true);
  });
});

describe.each(PROTOCOL_PAIRS.filter((pair) => pair.downstream === 'http1'))('TE from an HTTP/1.1 client, $label', (pair) => {
  it.each([
    { te: 'gzip', forwarded: undefined },
    { te: 'trailers, deflate;q=0.5', forwarded: 'trailers' },
    { te: 'gzip;q=1.0, Trailers', forwarded: 'trailers' },
  ])('forwards only the trailers token of TE: $te', async ({ te, forwarded }) => {
    const { port, seen } = await recordingProxy(pair);
    await send(pair.downstream, port, { headers: { te } });
    expect(seen[0]?.headers.te).toBe(forwarded);
  });
});

/**
 * Sends a request with `Expect: 100-continue` and holds its body back until a 100 (Continue)
 * arrives; fails if none does.
 */
async function expectContinue(protocol: Protocol, port: number, body: Buffer): Promise<{ status: number; headers: Fields }> {
  let continued = false;
  let release: () => void = () => undefined;
  const response = new Promise<{ status: number; headers: Fields }>((resolve, reject) => {
    const headers = { expect: '100-continue', 'content-length': body.length };
    if (protocol === 'http1') {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on('error', reject);
      req.on('continue', () => (continued = true));
      req.flushHeaders();
      release = () => req.end(body);
      onCleanup(() => req.destroy());
      return;
    }
    const stream = h2Session(port).request({ ':method': 'POST', ':path': '/', ...headers }, { endStream: false });
    stream.on('continue', () => (continued = true));
    stream.on('response', (head) => {
      stream.resume();
      stream.on('end', () => resolve({ status: Number(head[':status']), headers: head }));
    });
    stream.on('error', reject);
    release = () => stream.end(body);
  });
  await waitFor('100 (Continue) from Tandem', () => continued);
  release();
  return response;
}
