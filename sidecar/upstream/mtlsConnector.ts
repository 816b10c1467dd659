import { Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import type { IdentitySource } from '../identity/identitySource.js';
import type { IdentityMaterial } from '../identity/material.js';
import { verifyPeerIdentity } from '../identity/peerIdentity.js';
import type { ConnectTarget, Connector } from './connector.js';
import { limitHandshake, whenNegotiated } from './tlsConnector.js';

/** TLS sessions kept for resumption, per endpoint and expected identity (the oldest go first). */
const MAX_SESSIONS = 1024;

export interface MtlsConnectorOptions {
  readonly identity: IdentitySource;
  /** The SPIFFE ID an endpoint must prove when discovery names none: by default the upstream's service in our trust domain. */
  readonly defaultIdentity: (target: ConnectTarget, trustDomain: string) => string;
  /** Counts a connection this side refused: `identity` (not the SPIFFE ID expected) or `handshake` (anything else in TLS). */
  readonly refused?: (upstream: string, reason: 'identity' | 'handshake') => void;
}

/**
 * Mutual TLS to peer sidecars: presents this sidecar's certificate, verifies the server's chain
 * against the trust bundle and its SPIFFE ID against the one expected for the endpoint — from
 * discovery metadata, else the upstream's — never a hostname. ALPN offers h2 and http/1.1 and the
 * pool follows the answer.
 *
 * Sessions are resumed, but only towards the endpoint and identity they were made with: the cache key
 * holds both, so a session minted while dialling A is never offered while dialling B. That keying is
 * the whole defence, and it has to be: on a resumed session Node skips `checkServerIdentity` and the
 * socket no longer shows the server's certificate (test/integration/identity/resumption.test.ts), so
 * nothing could be checked then. A server that resumes one proves it holds the secret of the handshake
 * in which its identity was verified. New certificates clear the cache.
 */
export function mtlsConnector(options: MtlsConnectorOptions): Connector {
  const { identity } = options;
  const sessions = new Map<string, Buffer>();
  let context: { material: IdentityMaterial; secureContext: SecureContext } | undefined;
  const secureContext = (material: IdentityMaterial): SecureContext => {
    if (context?.material !== material) {
      // New material, new context: sessions from the old one go (they were made with the old certificate).
      sessions.clear();
      context = { material, secureContext: createSecureContext({ key: material.keyPem, cert: material.chainPem, ca: material.bundlePem, minVersion: 'TLSv1.2' }) };
    }
    return context.secureContext;
  };

  const open = (target: ConnectTarget): Socket => {
    const material = identity.current;
    if (material === undefined) {
      // Only before the first certificate, while the sidecar is not ready: fails as a connect does.
      const socket = new Socket();
      process.nextTick(() => socket.destroy(new Error('this sidecar has no certificate yet')));
      return socket;
    }
    const expected = target.expectedIdentity ?? options.defaultIdentity(target, material.id.trustDomain);
    const key = `${target.address}:${target.port}|${expected}`;
    const socket = tlsConnect({
      host: target.address,
      port: target.port,
      servername: target.serverName,
      secureContext: secureContext(material),
      ALPNProtocols: [...target.alpnProtocols],
      session: sessions.get(key),
      checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
        const problem = serverIdentityProblem(certificate, expected, material.id.trustDomain);
        if (problem !== undefined) identityRefused = true;
        return problem;
      },
    });
    // Counted: failures between the TCP connection and the end of the handshake (not a refused or
    // timed-out TCP connect, nor anything after the handshake).
    let identityRefused = false;
    let stage: 'tcp' | 'tls' | 'up' = 'tcp';
    socket.once('connect', () => (stage = 'tls'));
    socket.once('secureConnect', () => (stage = 'up'));
    socket.once('error', () => {
      if (identityRefused) options.refused?.(target.upstream, 'identity');
      else if (stage === 'tls') options.refused?.(target.upstream, 'handshake');
    });
    socket.on('session', (session: Buffer) => {
      sessions.delete(key);
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
      sessions.set(key, session);
    });
    socket.once('secureConnect', () => recordValidity(socket));
    return limitHandshake(socket, target);
  };

  // Before the first certificate `open` fails the socket at once; `whenNegotiated` reports that as a failed connect.
  return { scheme: 'https', connect: open, negotiate: (target) => whenNegotiated(open(target) as TLSSocket), remainingLifetime: certificateLifetime };
}

/** Why a server's certificate does not prove `expected` in this trust domain, or undefined when it does. */
export function serverIdentityProblem(certificate: PeerCertificate, expected: string, trustDomain: string): Error | undefined {
  const peer = verifyPeerIdentity(certificate, trustDomain);
  if ('problem' in peer) return new Error(`the server's certificate is refused: ${peer.problem}`);
  if (peer.id !== expected) return new Error(`the server is "${peer.id}", expected "${expected}"`);
  return undefined;
}

/**
 * When each connection's certificates stop vouching for it: the first of the two that authenticated
 * it to expire (ours, and the peer's when the socket still shows it — not after a resumption). A
 * connection should not outlive them: it proved an identity only for their validity. Read once at
 * the handshake; HTTP/1.1 pools ask after every exchange.
 */
const validUntil = new WeakMap<Socket, number>();

function recordValidity(socket: TLSSocket): void {
  const ends = [socket.getX509Certificate(), socket.getPeerX509Certificate()].filter((certificate) => certificate !== undefined).map((certificate) => Date.parse(certificate.validTo));
  if (ends.length > 0) validUntil.set(socket, Math.min(...ends));
}

function certificateLifetime(socket: Socket): number | undefined {
  const until = validUntil.get(socket);
  return until === undefined ? undefined : until - Date.now();
}
