import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Duration, formatDurationMs, parseDurationMs } from '../../../../sidecar/core/duration.js';

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['15s', 15_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['0.5s', 500],
    ['0s', 0],
  ])('parses %s as %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(['', '15', '15 s', '5 seconds', 's', '-1s', '1d', '1s ', 'ms'])('rejects %j', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });

  it('prints durations back in the largest whole unit', () => {
    expect(['0s', '250ms', '15s', '2m', '1h', '90s'].map((t) => Duration.parse(t).toString())).toEqual(['0s', '250ms', '15s', '2m', '1h', '90s']);
    expect(JSON.stringify({ timeout: Duration.parse('1m30s') })).toBe('{"timeout":"90s"}');
  });

  it('round-trips every whole-millisecond duration through its printed form', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 * 24 * 3_600_000 }), (ms) => parseDurationMs(formatDurationMs(ms)) === ms));
  });
});
