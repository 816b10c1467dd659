import { connect, type Socket } from 'node:net';
import { connectTimedOut, type Peer } from './upstreamErrors.js';

/** The application protocols a connection may negotiate with ALPN (RFC 7301 names). */
export type AlpnProtocol = 'h2' | 'http/1.1';

export interface ConnectTarget extends Peer {
  readonly address: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** The name to ask for with TLS SNI: the upstream's service name (also the identity a mesh peer is expected to prove, absent discovery's word). */
  readonly serverName: string;
  /** What the pool can speak on this connection, preferred first, to offer with ALPN. */
  readonly alpnProtocols: readonly AlpnProtocol[];
  /** The identity (SPIFFE ID) the endpoint must prove, from discovery; undefined when discovery does not say. */
  readonly expectedIdentity: string | undefined;
}

/** A connection whose protocol was negotiated while it was established. */
export interface NegotiatedConnection {
  readonly socket: Socket;
  /** What ALPN chose; a peer that took part in no negotiation speaks the first protocol offered. */
  readonly protocol: AlpnProtocol;
}

/**
 * Opens the byte stream under an upstream connection. This is where transport security plugs in: a
 * TLS connector returns a TLS socket (SNI, ALPN, the peer's identity checked) through the same calls,
 * and the pools above it do not change.
 */
export interface Connector {
  /** The `:scheme` requests on these connections carry. */
  readonly scheme: 'http' | 'https';
  /**
   * Starts connecting and returns the socket at once. If no connection exists after `timeoutMs`,
   * the socket is destroyed with a `TANDEM_CONNECT_TIMEOUT` error.
   */
  connect(target: ConnectTarget): Socket;
  /**
   * Connects and resolves once the protocol is agreed (TLS with ALPN); rejects as a failed connect
   * would. Only connectors that negotiate have it: with them an endpoint offered more than one
   * protocol gets the pool its first connection negotiated (see `pools.ts`).
   */
  readonly negotiate?: (target: ConnectTarget) => Promise<NegotiatedConnection>;
  /**
   * How much longer a connection this connector made may take new requests, in ms; undefined for no
   * limit. A mutual-TLS connection ends with the certificates it was authenticated with: pools retire
   * it gracefully then (in-flight requests finish), so each peer sees current certificates.
   */
  readonly remainingLifetime?: (socket: Socket) => number | undefined;
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
