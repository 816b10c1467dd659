import type { Socket } from 'node:net';
import { plaintextAcceptor, PREFACE, type Acceptor } from '../listener/acceptor.js';
import type { HttpVersion } from '../http/message.js';
import type { Destination, OriginalDestinationReader } from './originalDestination.js';
import type { PassthroughReason } from './passthrough.js';

/** A request line longer than this goes to the HTTP/1.1 parser, which refuses it under its own limits. */
const MAX_REQUEST_LINE_BYTES = 8 * 1024;
/** A head that has not ended within this many bytes goes to the HTTP/1.1 parser, which answers 431 under its own limits. */
const MAX_SNIFFED_HEAD_BYTES = 64 * 1024;
/** How an HTTP/1.x request starts, so far: a method's letters, then a space. */
const METHOD_SO_FAR = /^[A-Z][A-Z_-]{0,23}( |$)/;
const REQUEST_LINE = /^[A-Z][A-Z_-]* \S+ HTTP\/1\.[01]\r?$/;
const HOST_FIELD = /\r?\nhost[ \t]*:[ \t]*([^\r\n]*)/i;

export interface TransparentOptions {
  /** The listener's request-head timeout: for connections that were not redirected, and for a redirected one's head once it has begun; 0 waits forever. */
  readonly firstBytesTimeoutMs: number;
  /** A redirected connection silent this long is passed through: the server speaks first (SMTP, MySQL); 0 waits for the client. */
  readonly detectTimeoutMs: number;
  /** Original destination ports whose connections are passed through without looking at them. */
  readonly opaquePorts: ReadonlySet<number>;
  readonly originalDestination: OriginalDestinationReader;
  /** Whether Host names an upstream; a redirected HTTP/1.1 connection to any other host is passed through as it came. */
  readonly routes: (authority: string) => boolean;
  readonly passThrough: (socket: Socket, seen: Buffer, destination: Destination, reason: PassthroughReason) => void;
}

/**
 * The HTTP proxy port as the target of iptables' REDIRECT: a connection whose original destination
 * differs from the port itself was the app's own, meant for somewhere else. Tandem proxies it when it
 * is HTTP for an upstream it knows, and otherwise joins it to that original destination untouched, as
 * if Tandem were not there: an opaque port, bytes that are no HTTP request, a client that waits for
 * the server to speak, or an HTTP/1.1 host no upstream is named for. HTTP/2 with prior knowledge is
 * always proxied (its authority sits in HPACK-coded frames): a stream for an unknown authority fails
 * with TANDEM_NO_ROUTE. Connections made to the port directly are what they always were.
 */
export function transparentAcceptor(options: TransparentOptions): Acceptor {
  const direct = plaintextAcceptor(options.firstBytesTimeoutMs);
  return {
    accept(socket, ready) {
      const destination = options.originalDestination(socket);
      if (destination === undefined) return direct.accept(socket, ready);
      if (options.opaquePorts.has(destination.port)) return options.passThrough(socket, Buffer.alloc(0), destination, 'opaque_port');
      sniff(socket, options, (verdict, seen) => {
        if (verdict === 'http1' || verdict === 'http2') {
          socket.pause();
          socket.unshift(seen);
          ready(socket, { protocol: verdict, scheme: 'http', peer: { address: socket.remoteAddress, port: socket.remotePort, identity: undefined } });
        } else options.passThrough(socket, seen, destination, verdict);
      });
    },
  };
}

type Verdict = HttpVersion | PassthroughReason;

/**
 * Reads until the first bytes tell what the connection is; every listener comes off again before
 * `decided`. The client may half-close meanwhile (a request, then its end): the connection is
 * half-open until decided, and what was decided with is all there is.
 */
function sniff(socket: Socket, options: TransparentOptions, decided: (verdict: Verdict, seen: Buffer) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  let timer = options.detectTimeoutMs > 0 ? setTimeout(() => finish('silent'), options.detectTimeoutMs) : undefined;
  socket.allowHalfOpen = true;
  const finish = (verdict: Verdict): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onGone);
    socket.off('close', onGone);
    // The HTTP servers expect what the listener gave them: a socket that closes when its client does.
    if (verdict === 'http1' || verdict === 'http2') socket.allowHalfOpen = false;
    decided(verdict, seen);
  };
  const onGone = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    if (seen.length === 0) {
      // Bytes have come: from here the client has the head timeout to finish what it started.
      clearTimeout(timer);
      if (options.firstBytesTimeoutMs > 0) timer = setTimeout(onGone, options.firstBytesTimeoutMs);
    }
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const verdict = classify(seen, options.routes, false);
    if (verdict !== undefined) finish(verdict);
  };
  const onEnd = (): void => finish(seen.length === 0 ? 'silent' : (classify(seen, options.routes, true) as Verdict));
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('error', onGone);
  socket.once('close', onGone);
}

/**
 * What the bytes so far are, or undefined while they could still be either; `ended` when no more
 * will come. Exported for the unit tests.
 */
export function classify(seen: Buffer, routes: (authority: string) => boolean, ended: boolean): Verdict | undefined {
  const n = Math.min(seen.length, PREFACE.length);
  if (seen.compare(PREFACE, 0, n, 0, n) === 0) return seen.length >= PREFACE.length ? 'http2' : ended ? 'not_http' : undefined;
  if (!METHOD_SO_FAR.test(seen.toString('latin1', 0, Math.min(seen.length, 25)))) return 'not_http';
  const lineEnd = seen.indexOf('\n');
  if (lineEnd < 0) {
    if (seen.length >= MAX_REQUEST_LINE_BYTES) return 'http1';
    return ended ? 'not_http' : undefined;
  }
  if (!REQUEST_LINE.test(seen.toString('latin1', 0, lineEnd))) return 'not_http';
  const headEnd = seen.indexOf('\r\n\r\n');
  const bareEnd = seen.indexOf('\n\n');
  if (headEnd < 0 && bareEnd < 0) return ended || seen.length >= MAX_SNIFFED_HEAD_BYTES ? 'http1' : undefined;
  const head = seen.toString('latin1', 0, headEnd >= 0 ? headEnd : bareEnd);
  const host = HOST_FIELD.exec(head)?.[1]?.trim();
  // No Host at all is HTTP/1.0 or a bad request: the parser and the router answer it.
  return host === undefined || routes(host) ? 'http1' : 'unknown_host';
}
