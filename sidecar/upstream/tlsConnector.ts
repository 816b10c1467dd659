import { connect as tlsConnect, createSecureContext, type TLSSocket } from 'node:tls';
import type { ConnectTarget, Connector, NegotiatedConnection } from './connector.js';
import { connectTimedOut } from './upstreamErrors.js';

export interface TlsConnectorOptions {
  /** Roots to verify the server against (`upstreams[].tls.ca_file`). */
  readonly caPem: string;
  /** The name the server's certificate must carry, and SNI; the upstream's service name by default. */
  readonly serverName?: string | undefined;
}

/**
 * One-way TLS to a service outside the mesh (`tls.mode: tls`): the server is verified as any HTTPS
 * client verifies it — its chain against the given roots, its DNS or IP name against `server_name` —
 * and Tandem presents no certificate. ALPN offers what the pool can speak.
 */
export function tlsConnector(options: TlsConnectorOptions): Connector {
  const secureContext = createSecureContext({ ca: options.caPem, minVersion: 'TLSv1.2' });
  const open = (target: ConnectTarget): TLSSocket => {
    const socket = tlsConnect({
      host: target.address,
      port: target.port,
      servername: options.serverName ?? target.serverName,
      secureContext,
      ALPNProtocols: [...target.alpnProtocols],
    });
    return limitHandshake(socket, target);
  };
  return { scheme: 'https', connect: open, negotiate: (target) => whenNegotiated(open(target)) };
}

/** Sets no-delay, and destroys the socket with TANDEM_CONNECT_TIMEOUT unless its handshake completes within the connect timeout. */
export function limitHandshake<T extends TLSSocket>(socket: T, target: ConnectTarget): T {
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(connectTimedOut(target, target.timeoutMs)), target.timeoutMs);
  socket.once('secureConnect', () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
  return socket;
}

/** Resolves once a TLS connection's handshake is done, with what ALPN chose; rejects as a failed connect would. */
export function whenNegotiated(socket: TLSSocket): Promise<NegotiatedConnection> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve({ socket, protocol: socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1' });
    });
  });
}
