import { ErrorCode, TandemError } from '../core/errors.js';
import { isGrpcContentType } from './grpc.js';
import { upstreamRequestHeaders } from './headers.js';
import type { Headers, HttpVersion } from './message.js';
import type { RequestBody } from './requestBody.js';

/** Who is at the other end of a downstream connection. */
export interface Peer {
  /** IP address; undefined only when the socket closed before it could be read. */
  readonly address: string | undefined;
  readonly port: number | undefined;
  /**
   * The identity the peer proved with its TLS client certificate (a SPIFFE ID), verified by the
   * acceptor; undefined on plaintext connections and when the peer presented none.
   */
  readonly identity: string | undefined;
  /** SHA-256 of the peer's certificate (DER, lowercase hex), with `identity`. */
  readonly certificateHash?: string | undefined;
}

/**
 * What the acceptor established about a downstream connection before any HTTP was parsed. Built
 * once per connection and shared by every request on it.
 */
export interface DownstreamConnection {
  /** The protocol the codec speaks on it: sniffed on plaintext, negotiated by ALPN on TLS. */
  readonly protocol: HttpVersion;
  /** `https` when the connection is TLS. */
  readonly scheme: 'http' | 'https';
  readonly peer: Peer;
  /** The SPIFFE ID this sidecar presented on the connection (mutual TLS), for `x-forwarded-client-cert`. */
  readonly localIdentity?: string | undefined;
  /** The client is outside the mesh (a gateway's): see `ForwardingInfo.edge`. */
  readonly edge?: boolean | undefined;
}

/** A request head as a downstream codec parsed it. */
export interface RequestHead {
  readonly method: string;
  /** HTTP/2 `:scheme`; HTTP/1.1 requests take the connection's. */
  readonly scheme?: string | undefined;
  /** `:authority`, or the Host header (or the absolute-form target's authority) for HTTP/1.1. */
  readonly authority: string;
  /** Path and query, as received. */
  readonly path: string;
  /** Every header field as received, pseudo-headers and hop-by-hop headers included. */
  readonly headers: Headers;
  /** Why the codec found no target Tandem can proxy in an otherwise readable head; see `ProxyRequest.refused`. */
  readonly refused?: string | TandemError | undefined;
}

/**
 * What a request *is*, independent of the protocol it arrived on: fixed when the head arrives and
 * never changed by the stack. What the stack learns about it while serving it (deadlines, attempts,
 * the chosen endpoint…) lives in its `RequestContext`.
 *
 * Both downstream codecs, and the tests, build requests with this constructor only.
 */
export class ProxyRequest {
  readonly method: string;
  /** `:scheme` the client used towards Tandem. */
  readonly scheme: string;
  /** `:authority`, or the Host header for HTTP/1.1. Forwarded unchanged (Envoy's default). */
  readonly authority: string;
  /** Path and query, as received. */
  readonly path: string;
  /** End-to-end headers for the upstream: hop-by-hop headers removed, forwarding headers set. */
  readonly headers: Readonly<Headers>;
  /** A gRPC call (`content-type: application/grpc…`): local errors answer with a gRPC status. */
  readonly grpc: boolean;
  /** The protocol the request arrived on. */
  readonly protocol: HttpVersion;
  readonly peer: Peer;
  /** When the request head arrived, on the `performance.now()` clock. */
  readonly receivedAt: number;
  /**
   * Why the request cannot be proxied as sent (a CONNECT, no `:path`, an absolute-form target that is
   * not HTTP, a listener limit), or undefined. Such a request still goes down the stack, so the edge
   * stage sees it; the router fails it with this error (a reason alone: TANDEM_BAD_REQUEST).
   */
  readonly refused: TandemError | undefined;

  constructor(
    head: RequestHead,
    readonly body: RequestBody,
    connection: DownstreamConnection,
    receivedAt = performance.now(),
  ) {
    this.method = head.method;
    this.scheme = head.scheme ?? connection.scheme;
    this.authority = head.authority;
    this.path = head.path;
    const { peer, localIdentity } = connection;
    const clientCert = peer.identity !== undefined && localIdentity !== undefined ? { by: localIdentity, hash: peer.certificateHash, uri: peer.identity } : undefined;
    this.headers = upstreamRequestHeaders(head.headers, { remoteAddress: peer.address, scheme: connection.scheme, authority: head.authority, clientCert, edge: connection.edge === true });
    this.grpc = isGrpcContentType(head.headers['content-type']);
    this.protocol = connection.protocol;
    this.peer = connection.peer;
    this.receivedAt = receivedAt;
    this.refused = typeof head.refused === 'string' ? new TandemError(ErrorCode.BadRequest, head.refused) : head.refused;
  }

  /** The same request with another path (a gateway route's prefix rewrite); everything else is shared. */
  withPath(path: string): ProxyRequest {
    return Object.assign(Object.create(ProxyRequest.prototype) as ProxyRequest, this, { path });
  }
}
