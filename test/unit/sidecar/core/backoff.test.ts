import { describe, expect, it } from 'vitest';
import { fullJitterBackoffMs } from '../../../../sidecar/core/backoff.js';

describe('full-jitter exponential backoff', () => {
  it('doubles its ceiling per failure from the base, up to the maximum', () => {
    const ceiling = (failures: number) => fullJitterBackoffMs(failures, 25, 250, () => 0.999999);
    expect([1, 2, 3, 4, 5, 6].map((n) => Math.round(ceiling(n)))).toEqual([25, 50, 100, 200, 250, 250]);
  });

  it('draws uniformly below the ceiling, down to zero', () => {
    expect(fullJitterBackoffMs(3, 25, 250, () => 0)).toBe(0);
    expect(fullJitterBackoffMs(3, 25, 250, () => 0.5)).toBe(50);
  });

  it('stays finite after very many failures', () => {
    expect(fullJitterBackoffMs(10_000, 25, 250, () => 0.5)).toBe(125);
  });
});
