/** What one load-generator run measured. Latencies are of successful requests only. */
export interface LoadResult {
  readonly generator: 'autocannon' | 'h2load' | 'node-http2';
  /** Successful (2xx) requests completed within the run. */
  readonly completed: number;
  /** Failed requests: errors, timeouts, resets and non-2xx responses. */
  readonly failed: number;
  readonly durationS: number;
  readonly reqPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The fixed-rate generator's 99.9th percentile (the saturation generators report none). */
  readonly p999Ms?: number;
  /** Free-form details from the generator (status codes, error counts, its own percentiles). */
  readonly details: Record<string, unknown>;
}

/** Nearest-rank percentile (`p` in 0..100) of an ascending array; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

/** A growable list of latencies (ms) that sorts into percentiles without boxing numbers. */
export class LatencyRecorder {
  private values = new Float64Array(1 << 16);
  private count = 0;

  record(ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }

  get size(): number {
    return this.count;
  }

  /** p50 and p99 in ms. */
  percentiles(): { p50: number; p99: number; p999: number } {
    const sorted = this.values.slice(0, this.count).sort();
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9) };
  }
}
