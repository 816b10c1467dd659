/**
 * Recent traffic in one-second slots, for rates and latency quantiles over the last few seconds
 * (`GET /stats`, `tandem stat`) computed in Tandem rather than by a Prometheus server. Latencies go
 * into log-spaced buckets (each 25 % wider than the last, 50 µs to about 60 s), so a quantile is
 * exact to within a bucket's width.
 */

/** The longest window a summary can cover. */
export const MAX_WINDOW_S = 60;

const LATENCY_BOUNDS_MS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let bound = 0.05; bound < 60_000; bound *= 1.25) bounds.push(bound);
  return bounds;
})();

interface Slot {
  second: number;
  count: number;
  successes: number;
  readonly latencies: Uint32Array;
}

export interface WindowSummary {
  readonly requestsPerSecond: number;
  /** Share of successes (0–1); undefined with no request in the window. */
  readonly successRate: number | undefined;
  /** Upper bounds of the buckets holding each quantile; undefined with no request. */
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly count: number;
}

export class SlidingWindow {
  private readonly slots: Slot[] = [];

  constructor(private readonly now: () => number = Date.now) {
    for (let i = 0; i < MAX_WINDOW_S + 1; i++) this.slots.push({ second: -1, count: 0, successes: 0, latencies: new Uint32Array(LATENCY_BOUNDS_MS.length + 1) });
  }

  record(success: boolean, latencyMs: number): void {
    const slot = this.slotFor(Math.floor(this.now() / 1000));
    slot.count++;
    if (success) slot.successes++;
    slot.latencies[bucketOf(latencyMs)]!++;
  }

  /**
   * The last `windowS` whole seconds (the one in progress left out, so a rate is not diluted by a
   * second just begun).
   */
  summary(windowS: number): WindowSummary {
    const seconds = Math.max(1, Math.min(MAX_WINDOW_S, Math.floor(windowS)));
    const current = Math.floor(this.now() / 1000);
    let count = 0;
    let successes = 0;
    const latencies = new Uint32Array(LATENCY_BOUNDS_MS.length + 1);
    for (const slot of this.slots) {
      if (slot.second >= current || slot.second < current - seconds) continue;
      count += slot.count;
      successes += slot.successes;
      for (let i = 0; i < latencies.length; i++) latencies[i]! += slot.latencies[i]!;
    }
    return {
      requestsPerSecond: count / seconds,
      successRate: count === 0 ? undefined : successes / count,
      p50Ms: quantile(latencies, count, 0.5),
      p95Ms: quantile(latencies, count, 0.95),
      p99Ms: quantile(latencies, count, 0.99),
      count,
    };
  }

  private slotFor(second: number): Slot {
    const slot = this.slots[second % this.slots.length] as Slot;
    if (slot.second !== second) {
      slot.second = second;
      slot.count = 0;
      slot.successes = 0;
      slot.latencies.fill(0);
    }
    return slot;
  }
}

function bucketOf(latencyMs: number): number {
  let low = 0;
  let high = LATENCY_BOUNDS_MS.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (latencyMs <= (LATENCY_BOUNDS_MS[middle] as number)) high = middle;
    else low = middle + 1;
  }
  return low;
}

function quantile(latencies: Uint32Array, count: number, q: number): number | undefined {
  if (count === 0) return undefined;
  const rank = Math.ceil(q * count);
  let seen = 0;
  for (let i = 0; i < latencies.length; i++) {
    seen += latencies[i] as number;
    if (seen >= rank) return LATENCY_BOUNDS_MS[i] ?? Infinity;
  }
  return Infinity;
}
