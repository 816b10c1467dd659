import type { Histogram, Registry, RegistryContentType } from 'prom-client';
import type { TraceExemplar } from './tracing/tracing.js';

/** One series of a bound histogram. */
export interface HistogramSeries {
  /** Counts `value`; with `exemplar`, it becomes the exemplar of `value`'s bucket. */
  observe(value: number, exemplar?: TraceExemplar): void;
  /** Drops the series. */
  remove(): void;
}

interface Exemplar {
  readonly labelSet: TraceExemplar;
  readonly value: number;
  readonly timestamp: number;
}

/** A sample as prom-client's registry reads it from a metric's `get()`. */
interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
  readonly exemplar?: Exemplar | null;
}

/** A metric family as prom-client's registry reads it. */
export interface HistogramFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: readonly Sample[];
  readonly aggregator: 'sum';
}

interface Series {
  readonly labels: Readonly<Record<string, string>>;
  /** Per bucket (the upper bounds, then +Inf), not cumulative. */
  readonly counts: Float64Array;
  readonly exemplars: Array<Exemplar | undefined>;
  sum: number;
  count: number;
}

export interface BoundHistogramConfiguration<T extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly T[];
  /** Upper bounds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];
  readonly registers: ReadonlyArray<Registry<RegistryContentType>>;
}

/**
 * A histogram the request path observes into without going through prom-client: its Histogram
 * hashes the label set into a new string on every observation, and with exemplars enabled twice.
 * A series here is bound to its labels once and is a few numbers; the metric sits in prom-client's
 * registry as a custom metric whose `get()` answers in the shape prom-client's own Histogram does
 * (cumulative `_bucket` samples with `le` first, each with its bucket's latest exemplar, then `_sum`
 * and `_count`), so `/metrics` reads it as it read the Histogram.
 */
export class BoundHistogram<T extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly upperBounds: readonly number[];
  private readonly series = new Map<string, Series>();

  constructor(configuration: BoundHistogramConfiguration<T>) {
    this.name = configuration.name;
    this.help = configuration.help;
    this.upperBounds = [...configuration.buckets];
    for (const registry of configuration.registers) registry.registerMetric(this as unknown as Histogram<T>);
  }

  bind(labels: Readonly<Record<T, string>>): HistogramSeries {
    // Label values are fixed strings Tandem chooses; a key of them, once per binding, identifies the series.
    const key = JSON.stringify(labels);
    let series = this.series.get(key);
    if (series === undefined) {
      series = { labels, counts: new Float64Array(this.upperBounds.length + 1), exemplars: [], sum: 0, count: 0 };
      this.series.set(key, series);
    }
    const bound = series;
    const upperBounds = this.upperBounds;
    return {
      observe: (value, exemplar) => {
        let bucket = 0;
        while (bucket < upperBounds.length && value > (upperBounds[bucket] as number)) bucket++;
        bound.counts[bucket] = (bound.counts[bucket] as number) + 1;
        bound.sum += value;
        bound.count += 1;
        if (exemplar !== undefined) bound.exemplars[bucket] = { labelSet: exemplar, value, timestamp: Date.now() / 1000 };
      },
      remove: () => {
        if (this.series.get(key) === bound) this.series.delete(key);
      },
    };
  }

  /** What the registry reads at a scrape. */
  get(): Promise<HistogramFamily> {
    const values: Sample[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.series.values()) {
      let cumulative = 0;
      for (let bucket = 0; bucket <= this.upperBounds.length; bucket++) {
        cumulative += series.counts[bucket] as number;
        const le = bucket < this.upperBounds.length ? (this.upperBounds[bucket] as number) : '+Inf';
        values.push({ labels: { le, ...series.labels }, value: cumulative, metricName: bucketName, exemplar: series.exemplars[bucket] ?? null });
      }
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** The registry's `resetMetrics()`: every series back to zero (bound handles stay valid). */
  reset(): void {
    for (const series of this.series.values()) {
      series.counts.fill(0);
      series.exemplars.length = 0;
      series.sum = 0;
      series.count = 0;
    }
  }
}
