import { Counter, Gauge, type CounterConfiguration, type GaugeConfiguration, type LabelValues } from 'prom-client';

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

/** One series of a deferred gauge. */
export interface DeferredGaugeSeries {
  inc(): void;
  dec(): void;
}

/**
 * A gauge the request path moves without prom-client (`tandem_requests_active`, up and down on every
 * request), for the reason DeferredCounter exists: a series is a number, set on prom-client's gauge
 * when it is scraped. A series exists, at 0, from its binding on.
 */
export class DeferredGauge<T extends string> {
  readonly gauge: Gauge<T>;
  private readonly series = new Map<string, Entry<T>>();

  constructor(configuration: GaugeConfiguration<T>) {
    const flush = (): void => this.flush();
    this.gauge = new Gauge({ ...configuration, collect: flush });
  }

  bind(labels: LabelValues<T>): DeferredGaugeSeries {
    // Bindings of the same labels share the series (a gauge's value is one number, not a sum of deltas).
    const key = JSON.stringify(labels);
    let entry = this.series.get(key);
    if (entry === undefined) this.series.set(key, (entry = { labels, value: 0 }));
    const bound = entry;
    return {
      inc: () => {
        bound.value += 1;
      },
      dec: () => {
        bound.value -= 1;
      },
    };
  }

  private flush(): void {
    for (const entry of this.series.values()) this.gauge.set(entry.labels, entry.value);
  }
}
