import { Counter, Gauge, Registry } from 'prom-client';

/** The metrics one upstream reports into. */
export interface UpstreamMetrics {
  /** 1 while the upstream is in panic (balancing over all endpoints), else 0. */
  readonly panic: { set(value: number): void };
  /** A request carried none of the hash policy's keys and was balanced at random. */
  readonly hashKeyMissing: { inc(): void };
  /** Discovery answered: the time (Unix seconds) of its last successful answer. */
  readonly discoverySynced: { set(value: number): void };
  /** Discovery failed to answer (the upstream keeps its last known endpoints). */
  readonly discoveryErrors: { inc(): void };
}

/**
 * Tandem's Prometheus metrics (`tandem_` prefix, base units), served at `GET /metrics`. One registry
 * per sidecar, so several sidecars in one process (tests) do not collide. Metrics are declared here
 * and handed to components as small bound interfaces, so the request path never looks up labels.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly panic = new Gauge({
    name: 'tandem_lb_panic',
    help: 'Whether the upstream balances over all its endpoints because fewer than healthy_panic_threshold percent are healthy (1) or not (0).',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly hashKeyMissing = new Counter({
    name: 'tandem_lb_hash_key_missing_total',
    help: 'Requests to a hashing upstream that carried none of its hash policy keys and were balanced at random.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });

  private readonly discoverySynced = new Gauge({
    name: 'tandem_discovery_last_sync_timestamp_seconds',
    help: 'When discovery last answered for the upstream (Unix time); time() minus this is how stale its endpoints may be.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly discoveryErrors = new Counter({
    name: 'tandem_discovery_errors_total',
    help: 'Failed discovery queries for the upstream; it keeps its last known endpoints meanwhile.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });

  forUpstream(upstream: string): UpstreamMetrics {
    const panic = this.panic.labels(upstream);
    panic.set(0);
    const discoveryErrors = this.discoveryErrors.labels(upstream);
    discoveryErrors.inc(0);
    return { panic, hashKeyMissing: this.hashKeyMissing.labels(upstream), discoverySynced: this.discoverySynced.labels(upstream), discoveryErrors };
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Metrics that go nowhere, for components built outside a sidecar (unit tests). */
export const NO_METRICS: UpstreamMetrics = {
  panic: { set: () => undefined },
  hashKeyMissing: { inc: () => undefined },
  discoverySynced: { set: () => undefined },
  discoveryErrors: { inc: () => undefined },
};
