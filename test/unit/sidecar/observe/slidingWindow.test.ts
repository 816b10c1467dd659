import { describe, expect, it } from 'vitest';
import { SlidingWindow } from '../../../../sidecar/observe/slidingWindow.js';

describe('sliding window', () => {
  it('rates the last whole seconds, leaving out the one in progress and those before the window', () => {
    let now = 100_000;
    const window = new SlidingWindow(() => now);
    window.record(true, 1); // second 100: before a 2 s window read during second 103
    now = 101_000;
    for (let i = 0; i < 10; i++) window.record(i < 9, 1);
    now = 102_500;
    for (let i = 0; i < 30; i++) window.record(true, 1);
    now = 103_500;
    window.record(false, 1); // the second in progress
    const summary = window.summary(2); // seconds 101 and 102
    expect(summary.count).toBe(40);
    expect(summary.requestsPerSecond).toBe(20);
    expect(summary.successRate).toBe(39 / 40);
    expect(window.summary(3)).toMatchObject({ count: 41, successRate: 40 / 41 });
  });

  it('places quantiles within a bucket (25 %) of the true value', () => {
    let now = 5_000;
    const window = new SlidingWindow(() => now);
    for (let i = 1; i <= 1000; i++) window.record(true, i / 10); // 0.1 ms … 100 ms, evenly
    now = 6_000;
    const { p50Ms, p95Ms, p99Ms } = window.summary(1);
    for (const [value, truth] of [[p50Ms, 50], [p95Ms, 95], [p99Ms, 99]] as const) {
      expect(value).toBeGreaterThanOrEqual(truth);
      expect(value).toBeLessThanOrEqual(truth * 1.25);
    }
  });

  it('reuses a slot a minute later without keeping what it held', () => {
    let now = 0;
    const window = new SlidingWindow(() => now);
    window.record(true, 1);
    now = 61_000; // the same slot, 61 seconds on
    window.record(true, 1);
    now = 62_000;
    expect(window.summary(60).count).toBe(1);
    expect(window.summary(1)).toMatchObject({ count: 1, successRate: 1 });
  });
});
