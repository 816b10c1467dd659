import { h1Request } from './clients.js';

/** One sample line of the Prometheus text exposition format (0.0.4): a series and its value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * The samples of a Prometheus text exposition, for tests that read what a scraper would. Comments
 * (`# HELP`, `# TYPE`) and blank lines are skipped; label values are unescaped; timestamps ignored.
 */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    samples.push(parseSampleLine(line));
  }
  return samples;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseSampleLine(line: string): Sample {
  const name = NAME.exec(line)?.[0];
  if (name === undefined) throw new Error(`not a sample line: ${line}`);
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    while (!rest.startsWith('}')) {
      const label = LABEL_NAME.exec(rest)?.[0];
      if (label === undefined || rest[label.length] !== '=' || rest[label.length + 1] !== '"') throw new Error(`bad labels in: ${line}`);
      rest = rest.slice(label.length + 2);
      let value = '';
      let i = 0;
      for (; i < rest.length && rest[i] !== '"'; i++) {
        if (rest[i] === '\\') {
          i++;
          value += rest[i] === 'n' ? '\n' : rest[i];
        } else value += rest[i];
      }
      if (i === rest.length) throw new Error(`unterminated label value in: ${line}`);
      labels[label] = value;
      rest = rest.slice(i + 1);
      if (rest.startsWith(',')) rest = rest.slice(1);
    }
    rest = rest.slice(1);
  }
  const [valueText] = rest.trim().split(/\s+/);
  const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
  // Prometheus reads values with Go's ParseFloat, where NaN is any case (prom-client writes `Nan`).
  if (valueText === undefined || (Number.isNaN(value) && valueText.toLowerCase() !== 'nan')) throw new Error(`bad value in: ${line}`);
  return { name, labels, value };
}

/** A parsed scrape, queried by metric name and labels. */
export class Scrape {
  constructor(readonly samples: readonly Sample[]) {}

  /** The value of the series with exactly these labels; undefined when there is none. */
  value(name: string, labels: Readonly<Record<string, string>>): number | undefined {
    return this.samples.find((sample) => sample.name === name && sameLabels(sample.labels, labels))?.value;
  }

  /** The series of `name` whose labels include `where`. */
  series(name: string, where: Readonly<Record<string, string>> = {}): Sample[] {
    return this.samples.filter((sample) => sample.name === name && Object.entries(where).every(([key, value]) => sample.labels[key] === value));
  }

  /** The sum over the series of `name` whose labels include `where` (0 when there is none). */
  sum(name: string, where: Readonly<Record<string, string>> = {}): number {
    return this.series(name, where).reduce((total, sample) => total + sample.value, 0);
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

/** Reads a sidecar's `GET /metrics` from its admin port, as Prometheus would; `worker`: one worker's alone (`workers: N`). */
export async function scrapeMetrics(adminPort: number, worker?: number): Promise<Scrape> {
  const response = await h1Request(adminPort, { path: worker === undefined ? '/metrics' : `/metrics?worker=${worker}` });
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  return new Scrape(parsePrometheusText(response.body.toString()));
}
