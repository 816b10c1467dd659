import { connect, type Socket } from 'node:net';
import { connectTimedOut, type Peer } from './upstreamErrors.js';

export interface ConnectTarget extends Peer {
  readonly address: string;
  readonly port: number;
  readonly timeoutMs: number;
}

/**
 * Opens the byte stream under an upstream connection. This is where transport security plugs in: a
 * TLS connector will return a TLS socket (with ALPN and the peer's SPIFFE identity checked) through
 * the same call, and the pools above it do not change.
 */
export interface Connector {
  /** The `:scheme` requests on these connections carry. */
  readonly scheme: 'http' | 'https';
  /**
   * Starts connecting and returns the socket at once. If no connection exists after `timeoutMs`,
   * the socket is destroyed with a `TANDEM_CONNECT_TIMEOUT` error.
   */
  connect(target: ConnectTarget): Socket;
}

export const plaintextConnector: Connector = {
  scheme: 'http',
  connect(target) {
    const socket = connect({ host: target.address, port: target.port, noDelay: true });
    const timer = setTimeout(() => socket.destroy(connectTimedOut(target, target.timeoutMs)), target.timeoutMs);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    return socket;
  },
};
