import type { Registry, RegistryContentType } from 'prom-client';

/** The two text formats `/metrics` speaks, by the content type each is served as. */
export const CONTENT_TYPES = {
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
} as const;

export type ExpositionFormat = keyof typeof CONTENT_TYPES;

/** A sample as prom-client reports it, with the exemplar its histograms keep per bucket. */
interface Sample {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number | undefined>>;
  readonly metricName?: string;
  readonly exemplar?: { readonly labelSet: Readonly<Record<string, string>>; readonly value: number; readonly timestamp?: number } | null;
}

/**
 * The registry in the Prometheus text format or OpenMetrics 1.0, written here from the registry's
 * values. prom-client ties a registry to one format: it keeps exemplars only in an OpenMetrics
 * registry, and writes OpenMetrics by renaming every counter in place (dropping `_total` for good), so
 * its own writer could not answer both. In OpenMetrics, counter families are named without `_total`
 * and their samples with it, and histogram buckets carry their exemplar.
 */
export async function exposition(registry: Registry<RegistryContentType>, format: ExpositionFormat): Promise<string> {
  const openMetrics = format === 'openmetrics';
  const lines: string[] = [];
  for (const family of await registry.getMetricsAsJSON()) {
    const type = String(family.type);
    const counter = openMetrics && type === 'counter';
    const name = counter ? family.name.replace(/_total$/, '') : family.name;
    lines.push(`# HELP ${name} ${openMetrics ? escape(family.help) : escapeHelp(family.help)}`, `# TYPE ${name} ${type}`);
    for (const sample of family.values as readonly Sample[]) {
      const sampleName = sample.metricName ?? (counter ? `${name}_total` : name);
      const { exemplar } = sample;
      const exemplarText = !openMetrics || exemplar == null ? '' : ` # ${labelSet(exemplar.labelSet)} ${number(exemplar.value)}${exemplar.timestamp === undefined ? '' : ` ${exemplar.timestamp}`}`;
      lines.push(`${sampleName}${labelSet(sample.labels, true)} ${number(sample.value)}${exemplarText}`);
    }
  }
  if (openMetrics) lines.push('# EOF');
  lines.push('');
  return lines.join('\n');
}

function labelSet(labels: Readonly<Record<string, string | number | undefined>>, omitEmpty = false): string {
  const pairs = Object.entries(labels)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([key, value]) => `${key}="${escape(typeof value === 'number' ? number(value) : value)}"`);
  return omitEmpty && pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Label values (both formats) and OpenMetrics HELP text: backslash, double quote and line feed escaped. */
function escape(text: string): string {
  return escapeHelp(text).replace(/"/g, '\\"');
}

/** Prometheus HELP text: backslash and line feed escaped, quotes left as they are. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * Whether a scraper's Accept header asks for OpenMetrics over the Prometheus text format: it lists
 * `application/openmetrics-text` with a quality at least that of `text/plain` (Prometheus itself
 * sends `application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,…`). Without
 * the header, Prometheus text, which every scraper reads.
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const qParam = params.find((param) => param.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'application/openmetrics-text') openMetrics = Math.max(openMetrics, q);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text;
}
