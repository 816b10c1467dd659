/**
 * What the primary's admin API makes of its workers' answers (`workers: N`): one `/metrics`, one
 * `/clusters`, one `/stats`, each the sum of the workers' where a sum means something.
 */

/** Gauges a sum would misstate, and how they combine instead; every other sample is summed. */
const COMBINE: ReadonlyArray<readonly [RegExp, (a: number, b: number) => number]> = [
  // The soonest expiry is the one to act on; the first process started is when this Tandem did.
  [/^(tandem_identity_cert_expiry_seconds|process_start_time_seconds)\b/, Math.min],
  // States each worker holds of the same thing (an endpoint ejected, an upstream in panic), the
  // busiest loop, the latest sync: the worst or latest worker's.
  [/^(tandem_event_loop_utilization|tandem_lb_panic|tandem_discovery_last_sync_timestamp_seconds|tandem_outlier_ejected_endpoints|nodejs_eventloop_lag_|nodejs_version_info)/, Math.max],
];

function combiner(sample: string): (a: number, b: number) => number {
  return COMBINE.find(([pattern]) => pattern.test(sample))?.[1] ?? ((a, b) => a + b);
}

interface Sample {
  value: number;
  /** The OpenMetrics exemplar (` # {trace_id="…"} 0.012 1700000000.1`), the last worker's that has one. */
  exemplar: string;
}

/**
 * Sums expositions in the Prometheus text format or OpenMetrics, sample by sample (same name and
 * labels), in the first one's order; families and samples only some have are added where they first
 * appear. `# HELP` and `# TYPE` come from the first exposition naming the family.
 */
export function sumExpositions(expositions: readonly string[]): string {
  const order: string[] = []; // comment lines and sample keys, in the order first seen
  const comments = new Set<string>();
  const samples = new Map<string, Sample>();
  let eof = false;
  // A family's samples follow its comments; a family first met in a later exposition goes at the end.
  for (const text of expositions) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line === '# EOF') {
        eof = true;
        continue;
      }
      if (line.startsWith('#')) {
        if (!comments.has(line)) {
          comments.add(line);
          order.push(line);
        }
        continue;
      }
      const { key, value, exemplar } = parseSample(line);
      const known = samples.get(key);
      if (known === undefined) {
        samples.set(key, { value, exemplar });
        order.push(key);
      } else {
        known.value = combiner(key)(known.value, value);
        if (exemplar !== '') known.exemplar = exemplar;
      }
    }
  }
  const lines = order.map((entry) => {
    const sample = samples.get(entry);
    return sample === undefined ? entry : `${entry} ${formatNumber(sample.value)}${sample.exemplar}`;
  });
  if (eof) lines.push('# EOF');
  lines.push('');
  return lines.join('\n');
}

/** `name{labels} value[ # exemplar]`: label values may hold spaces and `#`, so the key ends at the closing brace. */
function parseSample(line: string): { key: string; value: number; exemplar: string } {
  const close = line.startsWith('{') || line.includes('{') ? labelsEnd(line) : line.indexOf(' ');
  const key = line.slice(0, close).trimEnd();
  const rest = line.slice(close).trimStart();
  const hash = rest.indexOf(' # ');
  const valueText = (hash === -1 ? rest : rest.slice(0, hash)).split(' ')[0] as string;
  return { key, value: parseNumber(valueText), exemplar: hash === -1 ? '' : rest.slice(hash) };
}

/** The index just past a sample's label set, skipping quoted values (with their escapes). */
function labelsEnd(line: string): number {
  let quoted = false;
  for (let i = line.indexOf('{'); i < line.length; i++) {
    const char = line[i];
    if (quoted) {
      if (char === '\\') i++;
      else if (char === '"') quoted = false;
    } else if (char === '"') quoted = true;
    else if (char === '}') return i + 1;
  }
  return line.length;
}

function parseNumber(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Figures that count work (`/clusters`' endpoints and limits, `/stats`' rates): summed over workers. */
const SUMMED = new Set([
  'active_requests',
  'total_requests',
  'total_failures',
  'connections',
  'used',
  'overflows',
  'requests_in_window',
  'retries_in_window',
  'exhausted_total',
  'ejections_total',
  'ejections_overflowed',
  'requests_per_second',
  'retries_per_second',
  'overflows_per_second',
]);

/** Figures of state each worker holds of the same endpoints (how many ejected) and latency quantiles: the worst worker's. */
const WORST = new Set(['ejected', 'endpoints_ejected', 'p50', 'p95', 'p99']);

/** Booleans any worker's `true` makes true (an endpoint ejected or gone away in one worker is, for that worker's requests). */
const ANY = new Set(['ejected', 'gone_away', 'panic', 'retries_allowed_now']);

/** Booleans true only if true in every worker. */
const ALL = new Set(['synced', 'eligible']);

/**
 * `/clusters` or `/stats` over workers: the first worker's document, with the figures that count work
 * summed (clusters matched by name, endpoints by address and port), ejections and latency quantiles
 * the worst worker's, `ejected` and the like true if true in any worker (described as by the worker
 * that ejected), `synced` and `eligible` only if in all, and a success rate weighted by each worker's
 * requests. Everything else (configuration,
 * weights) is the same in every worker.
 */
export function mergeDocuments(perWorker: readonly unknown[]): unknown {
  return perWorker.reduce((merged, next) => mergeValue(merged, next, ''));
}

function mergeValue(a: unknown, b: unknown, key: string): unknown {
  if (typeof a === 'number' && typeof b === 'number') return SUMMED.has(key) ? a + b : WORST.has(key) ? Math.max(a, b) : a;
  if (WORST.has(key) && (a === null || b === null)) return a ?? b; // a quantile one worker has no sample for
  if (typeof a === 'boolean' && typeof b === 'boolean') return ANY.has(key) ? a || b : ALL.has(key) ? a && b : a;
  if (Array.isArray(a) && Array.isArray(b)) {
    const others: readonly unknown[] = b;
    return (a as readonly unknown[]).map((item) => {
      const match = others.find((other) => identity(other) === identity(item));
      return match === undefined ? item : mergeValue(item, match, key);
    });
  }
  if (isRecord(a) && isRecord(b)) {
    // Something one worker has ejected and another not (yet) is described as the one that ejected it
    // (the reason, the time left), so an `ejected: true` never comes with a null reason.
    const [base, other] = a['ejected'] === false && b['ejected'] === true ? [b, a] : [a, b];
    const merged: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(base)) merged[name] = name in other ? mergeValue(value, other[name], name) : value;
    const rate = weightedSuccessRate(base, other);
    if (rate !== undefined) merged['success_rate'] = rate;
    return merged;
  }
  return a;
}

/** Two workers' success rates over their requests per second, as one. */
function weightedSuccessRate(a: Record<string, unknown>, b: Record<string, unknown>): number | null | undefined {
  if (!('success_rate' in a) || typeof a['requests_per_second'] !== 'number' || typeof b['requests_per_second'] !== 'number') return undefined;
  const parts = [a, b].filter((part) => typeof part['success_rate'] === 'number');
  const weight = parts.reduce((total, part) => total + (part['requests_per_second'] as number), 0);
  if (parts.length === 0) return null;
  if (weight === 0) return parts[0]?.['success_rate'] as number;
  const rate = parts.reduce((total, part) => total + (part['success_rate'] as number) * (part['requests_per_second'] as number), 0) / weight;
  return Math.round(rate * 10_000) / 10_000;
}

/** What names an array element across workers: a cluster's name, an endpoint's address and port. */
function identity(item: unknown): string {
  if (!isRecord(item)) return JSON.stringify(item);
  if (typeof item['address'] === 'string') return `${item['address']}:${String(item['port'])}`;
  if (typeof item['name'] === 'string') return item['name'];
  if (typeof item['upstream'] === 'string') return item['upstream'];
  if (typeof item['endpoint'] === 'string') return item['endpoint'];
  return JSON.stringify(item);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
