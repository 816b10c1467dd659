/**
 * Exponential backoff with full jitter ("Exponential Backoff and Jitter", AWS Architecture Blog,
 * 2015): the n-th consecutive failure (from 1) waits a uniform random time in [0, min(max, base · 2^(n-1))).
 * Full jitter spreads a fleet's retries evenly instead of letting them arrive in synchronized waves.
 */
export function fullJitterBackoffMs(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return random() * ceiling;
}
