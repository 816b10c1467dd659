import { Counter, type CounterConfiguration, type LabelValues } from 'prom-client';

/** One series of a deferred counter, bound to its labels once. */
export interface DeferredSeries {
  inc(value?: number): void;
  /** Drops the series, with what it counted since the last scrape. */
  remove(): void;
}

interface Entry<T extends string> {
  readonly labels: LabelValues<T>;
  value: number;
}

/**
 * A counter the request path adds to without prom-client: a bound prom-client child hashes its label
 * set into a new string on every `inc()`, which for the counters every request touches came to about
 * a tenth of what Tandem allocates per request. Here a series is a number; prom-client gets each
 * series' sum when it is scraped (the metric's `collect`), once per series per scrape, so what
 * `/metrics` shows is what it would have shown.
 */
export class DeferredCounter<T extends string> {
  readonly counter: Counter<T>;
  private readonly series = new Set<Entry<T>>();

  constructor(configuration: CounterConfiguration<T>) {
    const flush = (): void => this.flush();
    this.counter = new Counter({ ...configuration, collect: flush });
  }

  bind(labels: LabelValues<T>): DeferredSeries {
    const entry: Entry<T> = { labels, value: 0 };
    this.series.add(entry);
    return {
      inc: (value = 1) => {
        entry.value += value;
      },
      remove: () => {
        this.series.delete(entry);
        this.counter.remove(labels);
      },
    };
  }

  private flush(): void {
    for (const entry of this.series) {
      if (entry.value === 0) continue;
      this.counter.inc(entry.labels, entry.value);
      entry.value = 0;
    }
  }
}
