/**
 * Runs `task(0)` … `task(count - 1)` with at most `concurrency` in flight, each started as soon as one
 * finishes (a closed-loop load generator); resolves with the results in index order.
 */
export async function runConcurrently<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** The nearest-rank `p`th percentile of `samples`. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Nearest-rank percentiles of `samples` (milliseconds), rounded to 0.1 ms for reporting. */
export function latencySummary(samples: readonly number[]): LatencySummary {
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  return { p50: round(percentile(samples, 50)), p90: round(percentile(samples, 90)), p99: round(percentile(samples, 99)), max: round(percentile(samples, 100)) };
}
