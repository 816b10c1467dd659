import type { Headers } from './message.js';

/**
 * Connection-specific headers (RFC 9110 §7.6.1, RFC 9113 §8.2.2): they describe one hop and must not be
 * forwarded. HTTP/2 forbids them outright. `te` is handled apart: only `trailers` may cross.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'te',
  'host',
]);

function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-');
}

/** Header names listed in `Connection:` are hop-by-hop for this message too. */
function connectionNominated(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  let names: Set<string> | undefined;
  for (const token of text.split(',')) {
    const name = token.trim().toLowerCase();
    if (name.length === 0 || name === 'close' || name === 'keep-alive') continue;
    (names ??= new Set()).add(name);
  }
  return names;
}

function teTrailers(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  if (value === 'trailers') return true; // what every gRPC client sends
  const text = Array.isArray(value) ? value.join(',') : value;
  return text.split(',').some((token) => token.split(';')[0]?.trim().toLowerCase() === 'trailers');
}

/** Where the request came from, for the forwarding headers. */
export interface ForwardingInfo {
  /** The downstream peer's IP address. */
  readonly remoteAddress: string | undefined;
  /** The scheme the downstream connection used (`http`, `https`). */
  readonly scheme: string;
  /** The request's `:authority` (or Host), for `x-forwarded-host`; absent when it had none. */
  readonly authority?: string | undefined;
  /**
   * On a mutual-TLS connection: this sidecar's SPIFFE ID, the SHA-256 of the client's certificate and
   * the SPIFFE ID it proved, for `x-forwarded-client-cert` (Envoy's `By=…;Hash=…;URI=…` form).
   */
  readonly clientCert?: { readonly by: string; readonly hash: string | undefined; readonly uri: string } | undefined;
  /**
   * The client is outside the mesh (a gateway's): `x-forwarded-proto` and `x-forwarded-host` say the
   * scheme and host it used to reach Tandem whatever it sent (Envoy at the edge, `use_remote_address`),
   * since only inside the mesh does an earlier hop's word count.
   */
  readonly edge?: boolean;
}

/**
 * The header that tells the app who called it. Tandem alone writes it: any copy a client sends is
 * dropped on every listener (Envoy's SANITIZE, then SET on a verified mTLS connection), so an app may
 * trust it.
 */
export const FORWARDED_CLIENT_CERT = 'x-forwarded-client-cert';

/**
 * End-to-end request headers for the upstream. Pseudo-headers, hop-by-hop headers, headers the
 * `Connection` header names and `Expect` (Tandem answers 100-continue itself, like Envoy's default)
 * are dropped; `te: trailers` survives; `x-forwarded-for` gets the peer appended; `x-forwarded-proto`
 * and `x-forwarded-host` are set when absent (always, at the edge), so the first hop's scheme and host
 * are kept across the mesh.
 */
export function upstreamRequestHeaders(incoming: Headers, forwarding: ForwardingInfo): Headers {
  const nominated = connectionNominated(incoming['connection']);
  const out: Headers = {};
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58 /* ':' */ || isHopByHop(name) || name === 'expect' || name === FORWARDED_CLIENT_CERT) continue;
    if (nominated?.has(name) === true) continue;
    out[name] = incoming[name];
  }
  // Compliant HTTP/1.1 clients also send `Connection: TE` (RFC 9110 §10.1.4); "accepts trailers" still
  // holds end to end because Tandem forwards trailers, and gRPC servers require it.
  if (teTrailers(incoming['te'])) out['te'] = 'trailers';
  if (forwarding.remoteAddress !== undefined) {
    const previous = out['x-forwarded-for'];
    out['x-forwarded-for'] =
      previous === undefined
        ? forwarding.remoteAddress
        : `${Array.isArray(previous) ? previous.join(', ') : previous}, ${forwarding.remoteAddress}`;
  }
  if (out['x-forwarded-proto'] === undefined || forwarding.edge === true) out['x-forwarded-proto'] = forwarding.scheme;
  if (forwarding.authority !== undefined && forwarding.authority !== '' && (out['x-forwarded-host'] === undefined || forwarding.edge === true)) {
    out['x-forwarded-host'] = forwarding.authority;
  }
  const cert = forwarding.clientCert;
  if (cert !== undefined) out[FORWARDED_CLIENT_CERT] = `By=${cert.by}${cert.hash === undefined ? '' : `;Hash=${cert.hash}`};URI=${cert.uri}`;
  return out;
}

/** End-to-end response headers for the downstream: pseudo-headers and hop-by-hop headers dropped. */
export function downstreamResponseHeaders(incoming: Headers): Headers {
  const nominated = connectionNominated(incoming['connection']);
  const out: Headers = {};
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58 /* ':' */ || isHopByHop(name)) continue;
    if (nominated?.has(name) === true) continue;
    out[name] = incoming[name];
  }
  return out;
}

/** Trailers pass through as they are, minus anything that is not a plain field. */
export function forwardableTrailers(incoming: Headers | undefined): Headers | undefined {
  if (incoming === undefined) return undefined;
  let out: Headers | undefined;
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58 || isHopByHop(name)) continue;
    (out ??= {})[name] = incoming[name];
  }
  return out;
}

/** The host of an authority, lower-case, without its port, brackets or a trailing dot (`[::1]:80` → `::1`). */
export function hostOfAuthority(authority: string): string {
  const lower = authority.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(1, Math.max(lower.indexOf(']'), 1));
  const colon = lower.lastIndexOf(':');
  const host = colon < 0 ? lower : lower.slice(0, colon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}
