import { isIP } from 'node:net';
import type { HashPolicyEntry } from '../affinity/hashPolicy.js';
import { requestCookie } from '../affinity/cookies.js';
import type { SessionCookieCodec } from '../affinity/sessionCookie.js';
import { hash53 } from '../balancer/support/xxhash64.js';
import type { Cluster } from '../cluster/cluster.js';
import type { PickDecision } from '../cluster/pickDecision.js';
import type { Headers } from '../http/message.js';
import { ProxyRequest } from '../http/request.js';
import { RequestBody } from '../http/requestBody.js';
import { requestHashKey, type HashKeyEntries } from '../layers/hashKey.js';

/** Header and cookie parameters accepted in one `/debug/lb` query: enough for any real request shape. */
const MAX_SHAPE_FIELDS = 100;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The pieces of an upstream's stack that decide where a request goes, the same instances the stack uses. */
export interface DecidingLayers {
  /** The upstream's `hash_policy`, when its policy hashes: entries as configured, and their key sources. */
  readonly hashing?: { readonly policy: readonly HashPolicyEntry[]; readonly entries: HashKeyEntries } | undefined;
  /** The upstream's `stateful_session`, when it has one. */
  readonly session?: { readonly cookieName: string; readonly codec: SessionCookieCodec } | undefined;
}

/** `GET /debug/lb`'s answer: the decision the upstream's stack would make for the request now. */
export interface LbDecision {
  readonly upstream: string;
  readonly request: { readonly method: string; readonly path: string; readonly source_address: string | null; readonly headers: Readonly<Headers> };
  /** The endpoint the request would go to, or null when it would fail (see `balancer.failure`). */
  readonly chosen: string | null;
  readonly decided_by: 'stateful_session' | 'balancer';
  readonly stateful_session: {
    readonly cookie: string;
    readonly present: boolean;
    /** The endpoint a valid, unexpired cookie names; null when absent, forged or expired. */
    readonly pinned: string | null;
    readonly outcome: string;
  } | null;
  readonly hash: {
    readonly entries: ReadonlyArray<{ readonly policy: unknown; readonly key: string | null }>;
    /** The text hashed (entries' keys, combined as configured), or null: the request lands at random. */
    readonly key: string | null;
    readonly hash_key: number | null;
  } | null;
  /** What the balancer picks for it (also when a session pins it elsewhere), with every endpoint's standing. */
  readonly balancer: PickDecision;
}

/**
 * Explains the decision an upstream's stack would make for `request`, layer by layer as `outbound.ts`
 * composes them: a stateful session's pinned endpoint first (used while routable), then the hash key
 * from `hash_policy`, then the balancer's pick. Nothing is sent and no cookie is invented; the pick is
 * real (see `Cluster.explainPick`).
 */
export function explainDecision(cluster: Cluster, layers: DecidingLayers, request: ProxyRequest): LbDecision {
  const hash = layers.hashing === undefined ? null : explainHash(layers.hashing, request);
  const balancer = cluster.explainPick(hash?.hash_key ?? undefined);
  const session = layers.session === undefined ? null : explainSession(layers.session, request, balancer);
  const pinned = session?.outcome === 'used' ? session.pinned : null;
  return {
    upstream: cluster.name,
    request: { method: request.method, path: request.path, source_address: request.peer.address ?? null, headers: request.headers },
    chosen: pinned ?? balancer.chosen,
    decided_by: pinned === null ? 'balancer' : 'stateful_session',
    stateful_session: session,
    hash,
    balancer,
  };
}

function explainHash(hashing: NonNullable<DecidingLayers['hashing']>, request: ProxyRequest): NonNullable<LbDecision['hash']> {
  const key = requestHashKey(hashing.entries, request, false) as string | undefined; // never an object without `invent`
  return {
    entries: hashing.entries.map(({ source }, i) => ({ policy: hashing.policy[i]?.toJSON(), key: source.key(request) ?? null })),
    key: key ?? null,
    hash_key: key === undefined ? null : hash53(key),
  };
}

function explainSession(session: NonNullable<DecidingLayers['session']>, request: ProxyRequest, balancer: PickDecision): NonNullable<LbDecision['stateful_session']> {
  const value = requestCookie(request.headers, session.cookieName);
  const pinned = value === undefined ? undefined : session.codec.decode(value);
  const verdict = balancer.endpoints.find((endpoint) => endpoint.endpoint === pinned);
  let outcome: string;
  if (value === undefined) outcome = 'no session cookie: the balancer picks, and the response sets one';
  else if (pinned === undefined) outcome = 'cookie does not verify (forged, for another upstream, or expired): treated as absent';
  else if (verdict === undefined) outcome = 'pinned endpoint is no longer known to discovery: the balancer picks, and the response sets a new cookie';
  else if (!verdict.routable) outcome = `pinned endpoint cannot take requests (${verdict.excluded_by.join('; ')}): the balancer picks, and the response sets a new cookie`;
  else outcome = 'used';
  return { cookie: session.cookieName, present: value !== undefined, pinned: pinned ?? null, outcome };
}

/**
 * The request shape from `/debug/lb`'s query: `method`, `path`, `authority`, `source` (the client's
 * address), `header=name:value` and `cookie=name=value` (both repeatable). Built by the constructor the
 * listeners use, so hash policies read it exactly as they read real requests. A string is a usage error.
 */
export function requestShape(query: URLSearchParams, defaultAuthority: string): ProxyRequest | string {
  const headers: Record<string, string | string[]> = {};
  const fields = query.getAll('header');
  const cookies = query.getAll('cookie');
  if (fields.length + cookies.length > MAX_SHAPE_FIELDS) return `at most ${MAX_SHAPE_FIELDS} header and cookie parameters`;
  for (const field of fields) {
    const colon = field.indexOf(':');
    const name = field.slice(0, Math.max(colon, 0)).trim().toLowerCase();
    if (colon < 1 || !TOKEN.test(name)) return `header: expected name:value, got "${field.slice(0, 80)}"`;
    const value = field.slice(colon + 1).trim();
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  for (const cookie of cookies) {
    if (!TOKEN.test(cookie.split('=')[0] ?? '') || !cookie.includes('=')) return `cookie: expected name=value, got "${cookie.slice(0, 80)}"`;
  }
  if (cookies.length > 0) headers['cookie'] = [headers['cookie'], cookies.join('; ')].filter((line) => line !== undefined).flat().join('; ');
  const path = query.get('path') ?? '/';
  if (!path.startsWith('/')) return `path: expected an origin-form path starting with "/", got "${path.slice(0, 80)}"`;
  const source = query.get('source') ?? '127.0.0.1';
  if (isIP(source) === 0) return `source: expected an IP address, got "${source.slice(0, 80)}"`;
  const method = query.get('method') ?? 'GET';
  if (!TOKEN.test(method)) return `method: expected an HTTP method, got "${method.slice(0, 80)}"`;
  return new ProxyRequest(
    { method, authority: query.get('authority') ?? defaultAuthority, path, headers },
    RequestBody.none(),
    { protocol: 'http1', scheme: 'http', peer: { address: source, port: undefined, identity: undefined } },
  );
}
