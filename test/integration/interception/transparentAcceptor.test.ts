import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { HttpVersion } from '../../../sidecar/http/message.js';
import type { Destination } from '../../../sidecar/interception/originalDestination.js';
import { passThrough, type PassthroughReason } from '../../../sidecar/interception/passthrough.js';
import { transparentAcceptor } from '../../../sidecar/interception/transparentAcceptor.js';
import { onCleanup } from '../../helpers/cleanup.js';

/**
 * The proxy port's acceptor under interception, on real loopback sockets: the original destination
 * (what SO_ORIGINAL_DST reads in a pod, tested there by test/e2e/transparentInterception.test.ts) is
 * given here, so each verdict and the pass-through can be watched byte for byte.
 */

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** The original destination: records what arrives, answers as `answer` says. */
async function destination(answer: (socket: Socket, received: () => string) => void): Promise<{ address: Destination; received: string[] }> {
  const received: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let text = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => received.push(text));
    answer(socket, () => text);
  });
  return { address: { address: '127.0.0.1', port: await listen(server) }, received };
}

interface Proxy {
  readonly port: number;
  readonly verdicts: Array<HttpVersion | PassthroughReason>;
  /** What reached the HTTP side, per accepted connection. */
  readonly proxied: string[];
}

async function proxyPort(redirectedTo: Destination | undefined, opaquePorts: number[] = [], detectTimeoutMs = 200): Promise<Proxy> {
  const verdicts: Array<HttpVersion | PassthroughReason> = [];
  const proxied: string[] = [];
  const acceptor = transparentAcceptor({
    firstBytesTimeoutMs: 2_000,
    detectTimeoutMs,
    opaquePorts: new Set(opaquePorts),
    originalDestination: () => redirectedTo,
    routes: (authority) => authority === 'orders',
    passThrough: (socket, seen, to, reason) => {
      verdicts.push(reason);
      passThrough(socket, seen, to, { connectTimeoutMs: 1_000, idleTimeoutMs: 5_000 });
    },
  });
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    acceptor.accept(socket, (stream, connection) => {
      verdicts.push(connection.protocol);
      let text = '';
      stream.setEncoding('latin1').on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\r\n\r\n')) {
          proxied.push(text);
          (stream as Socket).end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nproxied');
        }
      });
      stream.resume();
    });
  });
  onCleanup(() => sockets.forEach((socket) => socket.destroy()));
  return { port: await listen(server), verdicts, proxied };
}

/** Connects, sends `text` (then half-closes when `end`), and resolves with everything received before the close. */
function exchange(port: number, text: string, end: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => (end ? socket.end(text) : text.length > 0 && socket.write(text)));
    let received = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('end', () => socket.end());
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}

const REQUEST = (host: string): string => `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

describe('the proxy port under interception', () => {
  it('proxies HTTP/1.1 for a known upstream, the head intact', async () => {
    const to = await destination((socket) => socket.end());
    const proxy = await proxyPort(to.address);
    expect(await exchange(proxy.port, REQUEST('orders'), false)).toContain('proxied');
    expect(proxy.verdicts).toEqual(['http1']);
    expect(proxy.proxied).toEqual([REQUEST('orders')]);
    expect(to.received).toEqual([]);
  });

  it('passes HTTP/1.1 for a host no upstream is named for through to where it was going, byte for byte', async () => {
    const to = await destination((socket) => socket.on('end', () => socket.end('HTTP/1.1 204 No Content\r\n\r\n')));
    const proxy = await proxyPort(to.address);
    expect(await exchange(proxy.port, REQUEST('example.com'), true)).toBe('HTTP/1.1 204 No Content\r\n\r\n');
    expect(proxy.verdicts).toEqual(['unknown_host']);
    expect(to.received).toEqual([REQUEST('example.com')]);
  });

  it('passes a protocol that is not HTTP through, and the answer to a half-closed request comes back', async () => {
    const to = await destination((socket, received) => socket.on('end', () => socket.end(`PONG ${received().slice(5)}`)));
    const proxy = await proxyPort(to.address);
    expect(await exchange(proxy.port, 'PING hello\n', true)).toBe('PONG hello\n');
    expect(proxy.verdicts).toEqual(['not_http']);
  });

  it('passes a client that waits for the server to speak first through after the detection timeout', async () => {
    const to = await destination((socket) => {
      socket.write('220 ready\r\n');
      socket.on('data', () => socket.end('221 bye\r\n'));
    });
    const proxy = await proxyPort(to.address);
    const received = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: proxy.port });
      let text = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        text += chunk;
        if (text === '220 ready\r\n') socket.write('QUIT\r\n');
      });
      socket.on('close', () => resolve(text));
    });
    expect(received).toBe('220 ready\r\n221 bye\r\n');
    expect(proxy.verdicts).toEqual(['silent']);
  });

  it('with a detection timeout of 0 waits for a slow client\'s first bytes instead of passing it through', async () => {
    const to = await destination((socket) => socket.end());
    const proxy = await proxyPort(to.address, [], 0);
    const answer = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: proxy.port });
      let text = '';
      setTimeout(() => socket.write(REQUEST('orders')), 400);
      socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
    });
    expect(answer).toContain('proxied');
    expect(proxy.verdicts).toEqual(['http1']);
  });

  it('passes an opaque port through without reading a byte, even HTTP for a known upstream', async () => {
    const to = await destination((socket) => socket.on('end', () => socket.end('opaque')));
    const proxy = await proxyPort(to.address, [to.address.port]);
    expect(await exchange(proxy.port, REQUEST('orders'), true)).toBe('opaque');
    expect(proxy.verdicts).toEqual(['opaque_port']);
    expect(to.received).toEqual([REQUEST('orders')]);
  });

  it('treats a connection made to the port itself as the app\'s explicit use of the proxy: HTTP, never passed through', async () => {
    const proxy = await proxyPort(undefined);
    expect(await exchange(proxy.port, REQUEST('example.com'), false)).toContain('proxied');
    expect(proxy.verdicts).toEqual(['http1']);
  });
});
