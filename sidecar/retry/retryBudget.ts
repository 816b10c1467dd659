import type { RetryConfig } from './retryConfig.js';

/** The window is a ring of this many buckets, each `ttl / BUCKETS` long (Finagle's and tower's choice). */
const BUCKETS = 10;
/** The floor is counted per one-second slot. */
const SECOND_MS = 1_000;

/**
 * A retry budget after Linkerd's (`linkerd2-proxy-api` `RetryBudget`, from Finagle's `RetryBudget`):
 * retries may add `retry_ratio` of the original requests seen over the last `ttl`, plus a floor of
 * `min_retries_per_second` so that a client sending few requests can still retry. Over T seconds at
 * most about `retry_ratio · requests + min_retries_per_second · T` retries happen; "about" because
 * the window moves a bucket (ttl/10) at a time.
 *
 * A retry is allowed while `retries_in_window + 1 <= retry_ratio · requests_in_window`, or while fewer
 * than `min_retries_per_second` retries were taken in the current one-second slot. Counts live in a
 * ring of buckets advanced lazily from the injected clock, so there are no timers, and each call is
 * O(1) with no allocation apart from rotating at most `BUCKETS` buckets.
 */
export class RetryBudget {
  private readonly bucketMs: number;
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  /** Absolute number (`floor(now / bucketMs)`) of the newest bucket. */
  private bucket: number;
  private requestsInWindow = 0;
  private retriesInWindow = 0;
  /** Absolute number (`floor(now / 1000)`) of the floor's current slot. */
  private second: number;
  private retriesThisSecond = 0;
  private exhaustedTotal = 0;

  constructor(
    private readonly config: RetryConfig['budget'],
    private readonly now: () => number /* monotonic ms */,
  ) {
    this.bucketMs = config.ttl.ms / BUCKETS;
    const start = now();
    this.bucket = Math.floor(start / this.bucketMs);
    this.second = Math.floor(start / SECOND_MS);
  }

  /** An original request arrived (not a retry). */
  deposit(): void {
    this.advance();
    (this.requests[this.slot()] as number) += 1;
    this.requestsInWindow += 1;
  }

  /** Asks for one retry; true (and counted) when allowed. */
  tryWithdraw(): boolean {
    this.advance();
    if (!this.allows()) {
      this.exhaustedTotal += 1;
      return false;
    }
    (this.retries[this.slot()] as number) += 1;
    this.retriesInWindow += 1;
    this.retriesThisSecond += 1;
    return true;
  }

  /** For /clusters: { retry_ratio, min_retries_per_second, ttl_ms, requests_in_window, retries_in_window, retries_allowed_now, exhausted_total } */
  describe(): Record<string, number | boolean> {
    this.advance();
    return {
      retry_ratio: this.config.retry_ratio,
      min_retries_per_second: this.config.min_retries_per_second,
      ttl_ms: this.config.ttl.ms,
      requests_in_window: this.requestsInWindow,
      retries_in_window: this.retriesInWindow,
      retries_allowed_now: this.allows(),
      exhausted_total: this.exhaustedTotal,
    };
  }

  private allows(): boolean {
    // (r + 1) / q <= ratio rather than r + 1 <= ratio · q: division rounds correctly, so an exact
    // boundary such as 29 retries for 100 requests at 0.29 is not lost to 0.29 · 100 = 28.999….
    const byRatio = this.requestsInWindow > 0 && (this.retriesInWindow + 1) / this.requestsInWindow <= this.config.retry_ratio;
    return byRatio || this.retriesThisSecond < this.config.min_retries_per_second;
  }

  private slot(): number {
    return this.bucket % BUCKETS;
  }

  /** Empties the buckets that fell out of the window since the last call, and starts a new floor slot. */
  private advance(): void {
    const now = this.now();
    const second = Math.floor(now / SECOND_MS);
    if (second > this.second) {
      this.second = second;
      this.retriesThisSecond = 0;
    }
    const target = Math.floor(now / this.bucketMs);
    if (target <= this.bucket) return;
    // Past a whole ring, every bucket is stale: clear each once rather than once per elapsed bucket.
    const steps = Math.min(target - this.bucket, BUCKETS);
    for (let i = 1; i <= steps; i++) {
      const slot = (target - steps + i) % BUCKETS;
      this.requestsInWindow -= this.requests[slot] as number;
      this.retriesInWindow -= this.retries[slot] as number;
      this.requests[slot] = 0;
      this.retries[slot] = 0;
    }
    this.bucket = target;
  }
}
