import { createHash } from 'node:crypto';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { IdentityMaterial } from '../identity/material.js';
import type { IdentitySource } from '../identity/identitySource.js';
import { verifyPeerIdentity } from '../identity/peerIdentity.js';
import { plaintextAcceptor, type Acceptor } from './acceptor.js';
import { TicketKeySchedule } from './ticketKeys.js';
import { refuser, sniffTls, tlsHandshakes, type TlsRefusal } from './tlsHandshakes.js';

/** How often the inbound listener's session-ticket keys change (the gateways' default rotation). */
const TICKET_KEY_ROTATION_MS = 3_600_000;

/** ALPN, in the server's order of preference (RFC 7301): HTTP/2 when the client offers it. */
export const ALPN_PROTOCOLS = ['h2', 'http/1.1'];

export interface TlsAcceptorOptions {
  readonly identity: IdentitySource;
  /** `strict`: mutual TLS only. `permissive`: mutual TLS, or plaintext from the same port (for a migration). */
  readonly mode: 'strict' | 'permissive';
  /** A handshake (and a permissive plaintext client's first bytes) must complete within this. */
  readonly handshakeTimeoutMs: number;
  /** Counts each refused connection; none of them reaches HTTP, let alone the app. */
  readonly refused?: (reason: TlsRefusal) => void;
  /** What session-ticket keys derive from: the same in every worker of a Tandem (`ticketKeys.ts`). */
  readonly ticketSecret: Buffer;
}

/**
 * Mutual TLS on a listener (the inbound side of the mesh). The client must present a certificate
 * chaining to the trust bundle that is a workload SVID of this trust domain; the check runs on every
 * handshake, resumed ones included (OpenSSL keeps the peer certificate in the session, and the
 * session-ticket keys derive from the trust bundle, so no session from before a new bundle resumes).
 * The keys are the same in every process with the same `ticketSecret` and bundle — a Tandem's
 * workers, whose certificates differ — and change every hour. ALPN picks HTTP/2 or HTTP/1.1, and the
 * peer's SPIFFE ID goes on the connection for every request on it.
 *
 * The current certificate is used for each new handshake; an identity change swaps it in without
 * touching established connections.
 */
export function tlsAcceptor(options: TlsAcceptorOptions): Acceptor {
  const { identity, mode, handshakeTimeoutMs } = options;
  const refused = refuser(options.refused);
  // Node's TLS server does the handshakes (and verifies the chain); it is fed sockets, never listens.
  const server = createTlsServer({
    requestCert: true,
    // Verified in 'secureConnection' rather than by Node, so every refusal is counted with its reason.
    rejectUnauthorized: false,
    ALPNProtocols: ALPN_PROTOCOLS,
    minVersion: 'TLSv1.2',
    handshakeTimeout: handshakeTimeoutMs > 0 ? handshakeTimeoutMs : undefined,
  });
  let installed: IdentityMaterial | undefined;
  let tickets: { readonly bundle: string; readonly schedule: TicketKeySchedule } | undefined;
  const install = (material: IdentityMaterial | undefined): void => {
    if (material === undefined || material === installed) return;
    // A new context for new handshakes; connections already up keep theirs.
    server.setSecureContext({ key: material.keyPem, cert: material.chainPem, ca: material.bundlePem });
    if (tickets?.bundle !== material.bundlePem) {
      tickets?.schedule.stop();
      const label = `inbound ${createHash('sha256').update(material.bundlePem).digest('hex')}`;
      tickets = { bundle: material.bundlePem, schedule: new TicketKeySchedule(options.ticketSecret, label, TICKET_KEY_ROTATION_MS) };
      tickets.schedule.onRotation((keys) => server.setTicketKeys(keys));
    }
    // The context is new: it needs the keys again.
    server.setTicketKeys(tickets.schedule.current());
    installed = material;
  };
  install(identity.current);
  identity.onChange(install);

  const handshake = tlsHandshakes(server, refused);
  const plaintext = plaintextAcceptor(handshakeTimeoutMs);

  return {
    accept(socket, ready) {
      const sniffed = (isTls: boolean): void => {
        if (!isTls) {
          if (mode === 'strict') return refused(socket, 'plaintext', 'not a TLS handshake');
          return plaintext.accept(socket, ready);
        }
        if (installed === undefined) return refused(socket, 'handshake', 'this sidecar has no certificate yet');
        handshake(socket, (tls) => {
          if (!tls.authorized) return refused(socket, 'handshake', String(tls.authorizationError ?? 'no client certificate'));
          const peer = verifyPeerIdentity(tls.getPeerCertificate(), installed?.id.trustDomain);
          if ('problem' in peer) return refused(socket, 'identity', peer.problem);
          tls.on('error', () => tls.destroy()); // after the handshake, an error ends this connection only
          ready(tls, {
            protocol: tls.alpnProtocol === 'h2' ? 'http2' : 'http1',
            scheme: 'https',
            peer: { address: socket.remoteAddress, port: socket.remotePort, identity: peer.id, certificateHash: certificateHash(tls) },
            localIdentity: installed?.id.uri,
          });
        });
      };
      sniffTls(socket, handshakeTimeoutMs, sniffed, () => refused(socket, 'timeout', 'no bytes'));
    },
    close() {
      tickets?.schedule.stop();
    },
  };
}

/** SHA-256 of the peer's certificate, lowercase hex without colons (Envoy's XFCC `Hash`). */
function certificateHash(tls: TLSSocket): string | undefined {
  return tls.getPeerX509Certificate()?.fingerprint256.replaceAll(':', '').toLowerCase();
}
