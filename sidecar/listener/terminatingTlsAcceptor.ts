import { constants as cryptoConstants } from 'node:crypto';
import { createServer as createTlsServer } from 'node:tls';
import type { CertificateStore } from '../gateway/certificateStore.js';
import type { Acceptor } from './acceptor.js';
import { ALPN_PROTOCOLS } from './tlsAcceptor.js';
import { TicketKeySchedule } from './ticketKeys.js';
import { refuser, sniffTls, tlsHandshakes, type TlsRefusal } from './tlsHandshakes.js';

export interface TerminatingTlsOptions {
  readonly certificates: CertificateStore;
  /** A handshake must complete within this (and a new connection send its first byte). */
  readonly handshakeTimeoutMs: number;
  /** New session-ticket keys this often; 0 turns session tickets off. */
  readonly ticketKeyRotationMs: number;
  /**
   * What the session-ticket keys derive from, with `ticketKeyLabel`: every process given the same
   * secret (a Tandem's workers) resumes the others' sessions.
   */
  readonly ticketSecret: Buffer;
  /** Tells this listener's keys from other listeners' (its name). */
  readonly ticketKeyLabel: string;
  /** Counts each refused connection. */
  readonly refused?: (reason: TlsRefusal) => void;
}

/**
 * TLS termination for clients outside the mesh (a gateway): the certificate is chosen by SNI, ALPN
 * picks HTTP/2 or HTTP/1.1, no client certificate is asked for. Sessions resume by ticket, under keys
 * replaced every `ticketKeyRotationMs` (a ticket from before a rotation costs a full handshake) and
 * shared by every process with the same `ticketSecret` (`ticketKeys.ts`); the keys live on the
 * server's own context, which OpenSSL uses for tickets whichever certificate SNI picked.
 */
export function terminatingTlsAcceptor(options: TerminatingTlsOptions): Acceptor {
  const { certificates, handshakeTimeoutMs, ticketKeyRotationMs } = options;
  const refused = refuser(options.refused);
  const tickets = ticketKeyRotationMs > 0;
  const server = createTlsServer({
    ...certificates.defaultOptions,
    ALPNProtocols: ALPN_PROTOCOLS,
    SNICallback: (serverName, done) => done(null, certificates.contextFor(serverName)),
    handshakeTimeout: handshakeTimeoutMs > 0 ? handshakeTimeoutMs : undefined,
    ...(tickets ? {} : { secureOptions: cryptoConstants.SSL_OP_NO_TICKET }),
  });
  const schedule = tickets ? new TicketKeySchedule(options.ticketSecret, options.ticketKeyLabel, ticketKeyRotationMs) : undefined;
  if (schedule !== undefined) {
    server.setTicketKeys(schedule.current());
    schedule.onRotation((keys) => server.setTicketKeys(keys));
  }
  certificates.onDefaultChange = () => {
    server.setSecureContext({ ...certificates.defaultOptions, ...(tickets ? {} : { secureOptions: cryptoConstants.SSL_OP_NO_TICKET }) });
    // The current keys, not new ones: sessions made before the swap still resume.
    if (schedule !== undefined) server.setTicketKeys(schedule.current());
  };
  const handshake = tlsHandshakes(server, refused);

  return {
    accept(socket, ready) {
      const sniffed = (isTls: boolean): void => {
        if (!isTls) return refused(socket, 'plaintext', 'not a TLS handshake');
        handshake(socket, (tls) => {
          tls.on('error', () => tls.destroy()); // after the handshake, an error ends this connection only
          ready(tls, { protocol: tls.alpnProtocol === 'h2' ? 'http2' : 'http1', scheme: 'https', peer: { address: socket.remoteAddress, port: socket.remotePort, identity: undefined } });
        });
      };
      sniffTls(socket, handshakeTimeoutMs, sniffed, () => refused(socket, 'timeout', 'no bytes'));
    },
    close() {
      schedule?.stop();
      certificates.stop();
    },
  };
}
