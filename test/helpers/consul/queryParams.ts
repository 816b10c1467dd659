import type { IncomingHttpHeaders } from 'node:http';
import { compileFilter, FilterError } from './filter.js';
import type { EntryFilter, FilterFields } from './filter.js';
import { parseGoDurationMs } from './goDuration.js';
import { HttpError } from './http.js';

/** `structs.DefaultQueryTime`, `MaxQueryTime` and `JitterFraction`. */
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;
const JITTER_FRACTION = 16;

export interface ReadOptions {
  /** `?index=`; 0 (or absent) never blocks. */
  readonly minIndex: number;
  /** `?wait=` clamped to (0, 10m], 0 meaning 5m, plus up to 1/16 of it (`lib.RandomStagger`). */
  readonly timeoutMs: number;
  /** Echoed in `X-Consul-Effective-Consistency`. */
  readonly consistency: 'leader' | 'stale' | 'consistent';
  readonly cached: boolean;
}

/** `parseWait` + `parseConsistency` + `parseDC` for health and catalog reads. */
export function parseReadOptions(query: URLSearchParams, datacenter: string): ReadOptions {
  requireLocalDatacenter(query.get('dc'), datacenter);
  const stale = query.has('stale');
  const consistent = query.has('consistent');
  const cached = query.has('cached');
  if (stale && consistent) throw new HttpError(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
  if (cached && consistent) throw new HttpError(400, 'Cannot specify ?cached with ?consistent, conflicting semantics.');
  return {
    minIndex: parseIndex(query.get('index')),
    timeoutMs: blockingTimeoutMs(query.get('wait')),
    consistency: consistent ? 'consistent' : stale ? 'stale' : 'leader',
    cached,
  };
}

/** A request for another datacenter: this agent knows no WAN peers (`structs.ErrNoDCPath`). */
export function requireLocalDatacenter(requested: string | null, datacenter: string): void {
  if (requested !== null && requested !== '' && requested !== datacenter) throw new HttpError(500, 'No path to datacenter');
}

/**
 * `parseEntMeta`: an OSS agent refuses any namespace or partition, `default` included; an Enterprise one
 * takes them. Returns whether the request names a tenancy other than `default`, which holds nothing here.
 */
export function otherTenancy(query: URLSearchParams, headers: IncomingHttpHeaders, enterprise: boolean): boolean {
  const namespace = query.get('ns') || String(headers['x-consul-namespace'] ?? '');
  const partition = query.get('partition') || String(headers['x-consul-partition'] ?? '');
  if (!enterprise) {
    const refused = (where: string, feature: string): HttpError => new HttpError(400, `${where} - ${feature} are a Consul Enterprise feature`);
    if (headers['x-consul-namespace'] !== undefined) throw refused('Invalid header: "X-Consul-Namespace"', 'Namespaces');
    if (query.get('ns')) throw refused('Invalid query parameter: "ns"', 'Namespaces');
    if (headers['x-consul-partition'] !== undefined) throw refused('Invalid header: "X-Consul-Partition"', 'Partitions');
    if (query.get('partition')) throw refused('Invalid query parameter: "partition"', 'Partitions');
    return false;
  }
  return [namespace, partition].some((name) => name !== '' && name.toLowerCase() !== 'default');
}

export function parseFilter(query: URLSearchParams, fields: FilterFields): EntryFilter {
  const expression = query.get('filter');
  if (expression === null || expression === '') return () => true;
  try {
    return compileFilter(expression, fields);
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    throw new HttpError(400, `Failed to create boolean expression evaluator: ${error.message}`);
  }
}

/** `?node-meta=key:value`, repeatable, all must match. */
export function parseNodeMeta(query: URLSearchParams): (meta: Readonly<Record<string, string>> | null) => boolean {
  const wanted = query.getAll('node-meta').map((pair) => {
    const colon = pair.indexOf(':');
    return colon < 0 ? [pair, ''] : [pair.slice(0, colon), pair.slice(colon + 1)];
  });
  return (meta) => wanted.every(([name = '', value]) => meta?.[name] === value);
}

/** `?tag=`, repeatable, all must be present, compared case-insensitively (`serviceTagFilter`). */
export function tagsMatch(query: URLSearchParams): (tags: readonly string[]) => boolean {
  const wanted = query.getAll('tag').map((tag) => tag.toLowerCase());
  return (tags) => wanted.every((tag) => tags.some((candidate) => candidate.toLowerCase() === tag));
}

/** `getBoolQueryParam`: a bare `?passing` is true, otherwise Go's `strconv.ParseBool`. */
export function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name);
  if (raw === null) return false;
  return raw === '' ? true : parseGoBool(raw);
}

export function parseGoBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

function parseIndex(raw: string | null): number {
  if (raw === null || raw === '') return 0;
  if (!/^\d+$/.test(raw) || BigInt(raw) > 0xffff_ffff_ffff_ffffn) throw new HttpError(400, 'Invalid index');
  return Number(raw);
}

function blockingTimeoutMs(raw: string | null): number {
  let wait = DEFAULT_WAIT_MS;
  if (raw !== null && raw !== '') {
    const parsed = parseGoDurationMs(raw);
    if (parsed === undefined) throw new HttpError(400, 'Invalid wait time');
    wait = parsed === 0 ? DEFAULT_WAIT_MS : Math.min(parsed, MAX_WAIT_MS);
  }
  if (wait <= 0) return 0;
  return wait + Math.random() * (wait / JITTER_FRACTION);
}
