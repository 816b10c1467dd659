import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { createLogger } from '../core/log.js';

const log = createLogger('listener');

/** Why a connection was refused before any HTTP; the label of `tandem_tls_refused_total`. */
export type TlsRefusal = 'plaintext' | 'handshake' | 'identity' | 'timeout';

/** Closes a connection refused before any HTTP, counted with its reason and logged at debug. */
export type Refuse = (socket: Socket, reason: TlsRefusal, detail: string) => void;

export function refuser(count: ((reason: TlsRefusal) => void) | undefined): Refuse {
  return (socket, reason, detail) => {
    count?.(reason);
    log.debug('connection refused', { reason, detail, remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` });
    socket.destroy();
  };
}

/** The first byte of a TLS record carrying a handshake (RFC 8446 §5.1, ContentType handshake = 22). */
const TLS_HANDSHAKE = 0x16;

/**
 * Waits for a new connection's first byte (it stays unread) and says whether it opens a TLS
 * handshake; a connection silent for `timeoutMs` (0: no limit) goes to `silent` instead.
 */
export function sniffTls(socket: Socket, timeoutMs: number, sniffed: (tls: boolean) => void, silent: () => void): void {
  const timer = timeoutMs > 0 ? setTimeout(silent, timeoutMs) : undefined;
  const onClose = (): void => clearTimeout(timer);
  socket.once('close', onClose);
  socket.once('readable', () => {
    clearTimeout(timer);
    socket.off('close', onClose); // nothing of the sniffing stays with the connection
    const first = socket.read(1) as Buffer | null;
    if (first === null) return; // closed before a byte came
    socket.unshift(first);
    sniffed(first[0] === TLS_HANDSHAKE);
  });
}

/**
 * Handshakes on a TLS server that never listens: Tandem's listener accepts the TCP connection and
 * hands it over, and gets the secured socket back here. A failed handshake is refused with its reason.
 */
export function tlsHandshakes(server: TlsServer, refuse: Refuse): (socket: Socket, secured: (tls: TLSSocket) => void) => void {
  server.on('tlsClientError', (error: NodeJS.ErrnoException, tls: TLSSocket) => {
    refuse(tls, error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'timeout' : 'handshake', error.message);
  });
  /** Connections in their handshake, by the peer's `address:port`: whom to hand each to once it is secure. */
  const pending = new Map<string, { readonly secured: (tls: TLSSocket) => void; readonly socket: Socket; readonly forget: () => void }>();
  server.on('secureConnection', (tls: TLSSocket) => {
    const key = `${tls.remoteAddress ?? ''}:${tls.remotePort ?? ''}`;
    const handOver = pending.get(key);
    if (handOver === undefined) return;
    pending.delete(key);
    handOver.socket.off('close', handOver.forget); // an established connection keeps nothing of its handshake
    handOver.secured(tls);
  });
  return (socket, secured) => {
    const key = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
    const forget = (): boolean => pending.delete(key);
    socket.once('close', forget);
    pending.set(key, { secured, socket, forget });
    server.emit('connection', socket);
  };
}
