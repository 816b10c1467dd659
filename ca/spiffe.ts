/**
 * SPIFFE IDs as Tandem uses them (the SPIFFE-ID and X509-SVID standards): a workload is
 * `spiffe://<trust domain>/ns/<namespace>/svc/<service>`; a signing certificate's ID is the bare
 * trust domain. Parsing is strict, because an ID that parses loosely is an ID an attacker can shape.
 */

/** Trust domain: lowercase letters, digits, `.`, `-`, `_` (SPIFFE-ID §2.1), at most 255 bytes. */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
/** Path segment: letters, digits, `.`, `-`, `_` (SPIFFE-ID §2.2); `.` and `..` alone are forbidden. */
const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** SPIFFE-ID §2.3: a SPIFFE ID is at most 2048 bytes. */
const MAX_ID_BYTES = 2048;

export const DEFAULT_NAMESPACE = 'default';

export interface SpiffeId {
  readonly trustDomain: string;
  /** Path segments, empty for a trust domain's own ID. */
  readonly segments: readonly string[];
  /** The ID as a URI, `spiffe://…`. */
  readonly uri: string;
}

/** A workload's identity: a SPIFFE ID of the form `/ns/<namespace>/svc/<service>`. */
export interface WorkloadId extends SpiffeId {
  readonly namespace: string;
  readonly service: string;
}

/** The problem with `text` as a SPIFFE ID, or undefined if it is one. */
function problemOf(text: string): string | undefined {
  if (Buffer.byteLength(text) > MAX_ID_BYTES) return `longer than ${MAX_ID_BYTES} bytes`;
  if (!text.startsWith('spiffe://')) return 'does not start with "spiffe://"';
  const rest = text.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (!TRUST_DOMAIN.test(trustDomain)) return `trust domain "${trustDomain}" is not lowercase letters, digits, ".", "-" and "_"`;
  if (slash === -1) return undefined;
  const segments = rest.slice(slash + 1).split('/');
  for (const segment of segments) {
    if (segment === '') return 'has an empty path segment (or a trailing "/")';
    if (segment === '.' || segment === '..') return `has the path segment "${segment}"`;
    if (!SEGMENT.test(segment)) return `path segment "${segment}" is not letters, digits, ".", "-" and "_"`;
  }
  return undefined;
}

export class SpiffeIdError extends Error {
  override readonly name = 'SpiffeIdError';
}

/** Parses a SPIFFE ID, or throws a SpiffeIdError saying what is wrong with it. */
export function parseSpiffeId(text: string): SpiffeId {
  const problem = problemOf(text);
  if (problem !== undefined) throw new SpiffeIdError(`"${text.slice(0, 100)}" is not a SPIFFE ID: it ${problem}`);
  const rest = text.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  if (slash === -1) return { trustDomain: rest, segments: [], uri: text };
  return { trustDomain: rest.slice(0, slash), segments: rest.slice(slash + 1).split('/'), uri: text };
}

/** The workload a SPIFFE ID names, or undefined when it is not `/ns/<namespace>/svc/<service>`. */
export function asWorkloadId(id: SpiffeId): WorkloadId | undefined {
  const [ns, namespace, svc, service, ...more] = id.segments;
  if (ns !== 'ns' || svc !== 'svc' || namespace === undefined || service === undefined || more.length > 0) return undefined;
  return { ...id, namespace, service };
}

/** The SPIFFE ID of a workload; throws a SpiffeIdError if a part is not valid in one. */
export function workloadId(trustDomain: string, service: string, namespace = DEFAULT_NAMESPACE): WorkloadId {
  const id = asWorkloadId(parseSpiffeId(`spiffe://${trustDomain}/ns/${namespace}/svc/${service}`));
  if (id === undefined) throw new SpiffeIdError(`namespace "${namespace}" and service "${service}" must each be one path segment`);
  return id;
}

/** A trust domain's own ID (the ID of its signing certificates); throws a SpiffeIdError if invalid. */
export function trustDomainId(trustDomain: string): SpiffeId {
  const id = parseSpiffeId(`spiffe://${trustDomain}`);
  if (id.segments.length > 0) throw new SpiffeIdError(`"${trustDomain}" is not a trust domain name`);
  return id;
}

/** The CA's own serving identity: a workload of the `tandem` namespace, so its clients check it as they check any peer. */
export function caServerId(trustDomain: string): WorkloadId {
  return workloadId(trustDomain, 'tandem-ca', 'tandem');
}

/**
 * The one SPIFFE ID among a certificate's subject alternative names as Node formats them
 * (`URI:spiffe://…, DNS:…`), or what is wrong: none, more than one (the X509-SVID standard makes a
 * validator refuse that), or a URI that is not a SPIFFE ID. A name with ", " inside comes quoted from
 * Node and fails the parse, so it is refused rather than split.
 */
export function soleSpiffeId(subjectAltName: string | undefined): SpiffeId | { readonly problem: string } {
  const uris = (subjectAltName ?? '')
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice('URI:'.length));
  if (uris.length !== 1) return { problem: `expected exactly one URI SAN, got ${uris.length}` };
  try {
    return parseSpiffeId(uris[0] as string);
  } catch (error) {
    return { problem: (error as Error).message };
  }
}
