import type { Socket } from 'node:net';
import type { HttpVersion } from '../http/message.js';

/** The HTTP/2 connection preface (RFC 9113 §3.4); h2c with prior knowledge starts with it. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A client that connects and sends nothing is closed after this long (Linkerd's detect timeout is 10 s). */
export const DETECT_TIMEOUT_MS = 10_000;

/**
 * Reads just enough of a new plaintext connection to tell HTTP/2 prior knowledge from HTTP/1.x,
 * then puts the bytes back and hands the socket over, paused. A TLS listener will not need this:
 * ALPN names the protocol.
 */
export function detectHttpVersion(socket: Socket, onDetected: (version: HttpVersion) => void, timeoutMs = DETECT_TIMEOUT_MS): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const finish = (version: HttpVersion): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
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
  socket.once('close', () => clearTimeout(timer));
}
