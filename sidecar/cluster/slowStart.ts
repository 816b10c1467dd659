/**
 * Slow start (Envoy's `slow_start_config`): an endpoint that has just joined, or just become
 * eligible again, gets a fraction of its weight that grows over `window`:
 *
 *   factor = max(min_weight_percent / 100, (time in window / window) ^ (1 / aggression))
 *
 * so with aggression 1.0 it ramps linearly from the minimum to its full weight; above 1.0 it ramps
 * faster early on. Tandem applies it before any policy sees the weight, so it works the same for
 * least_request, round_robin, random, peak_ewma and the hashing policies (a ramping endpoint owns a
 * growing share of the ring or table).
 */
export interface SlowStartConfig {
  readonly windowMs: number;
  readonly aggression: number;
  readonly minWeightPercent: number;
}

/** The share of its weight an endpoint gets `elapsedMs` after it became eligible. */
export function slowStartFactor(elapsedMs: number, config: SlowStartConfig): number {
  if (config.windowMs <= 0 || elapsedMs >= config.windowMs) return 1;
  const progress = Math.max(elapsedMs, 0) / config.windowMs;
  return Math.max(config.minWeightPercent / 100, progress ** (1 / config.aggression));
}
