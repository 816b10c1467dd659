import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpVersion } from '../http/message.js';
import type { DownstreamConnection } from '../http/request.js';

/**
 * How a listener establishes a new connection before any HTTP is parsed: what protocol it speaks and
 * who the peer is. Plaintext sniffing today; a TLS acceptor (ALPN names the protocol, the client
 * certificate names the peer) plugs in through the same call.
 */
export interface Acceptor {
  /**
   * Reads what it needs of a new connection (a protocol preface, a TLS handshake), then calls
   * `ready` with the stream to parse HTTP from, paused, and what it learned; or destroys the socket.
   */
  accept(socket: Socket, ready: (stream: Duplex, connection: DownstreamConnection) => void): void;
  /** Stops what the acceptor runs besides handshakes (file watches, key rotation); called when its listener closes. */
  close?(): void;
}

/** The HTTP/2 connection preface (RFC 9113 §3.4); h2c with prior knowledge starts with it. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Plaintext connections: reads just enough to tell HTTP/2 prior knowledge from HTTP/1.x, then puts
 * the bytes back. A client that sends nothing for `firstBytesTimeoutMs` is closed (Linkerd's detect
 * timeout, 10 s): the listener's request-head timeout, since these are the first bytes of a request;
 * 0 waits forever.
 */
export function plaintextAcceptor(firstBytesTimeoutMs: number): Acceptor {
  return {
    accept(socket, ready) {
      detectHttpVersion(socket, firstBytesTimeoutMs, (protocol) => {
        const peer = { address: socket.remoteAddress, port: socket.remotePort, identity: undefined };
        ready(socket, { protocol, scheme: 'http', peer });
      });
    },
  };
}

/**
 * Every listener the detection adds comes off once it is done: a closure left on the socket would keep
 * the detection's whole scope (its timer, the first bytes) for the life of the connection.
 */
function detectHttpVersion(socket: Socket, timeoutMs: number, onDetected: (version: HttpVersion) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = timeoutMs > 0 ? setTimeout(() => socket.destroy(), timeoutMs) : undefined;
  const onClose = (): void => clearTimeout(timer);
  const finish = (version: HttpVersion): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('close', onClose);
    socket.pause();
    socket.unshift(seen);
    onDetected(version);
  };
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    if (seen.compare(PREFACE, 0, n, 0, n) !== 0) finish('http1');
    else if (seen.length >= PREFACE.length) finish('http2');
    // else: a prefix of the preface so far; wait for more
  };
  const onError = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on('data', onData);
  socket.on('error', onError);
  socket.once('close', onClose);
}
