import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../../../sidecar/core/tokenBucket.js';

describe('TokenBucket', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('allows a burst back to back, then one take per 1/rate seconds', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket(2, 3, () => Date.now());
    const takenAt: number[] = [];
    const start = Date.now();
    const taking = (async () => {
      for (let i = 0; i < 7; i++) {
        await bucket.take();
        takenAt.push(Date.now() - start);
      }
    })();
    await vi.advanceTimersByTimeAsync(5_000);
    await taking;
    expect(takenAt).toEqual([0, 0, 0, 500, 1000, 1500, 2000]);
  });

  it('refills up to the burst, not beyond, while idle', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket(10, 2, () => Date.now());
    await bucket.take();
    await bucket.take();
    await vi.advanceTimersByTimeAsync(60_000);
    const takenAt: number[] = [];
    const start = Date.now();
    const taking = (async () => {
      for (let i = 0; i < 3; i++) {
        await bucket.take();
        takenAt.push(Date.now() - start);
      }
    })();
    await vi.advanceTimersByTimeAsync(1_000);
    await taking;
    expect(takenAt).toEqual([0, 0, 100]);
  });

  it('stops waiting when aborted', async () => {
    const bucket = new TokenBucket(0.001, 1);
    await bucket.take();
    const abort = new AbortController();
    const waiting = bucket.take(abort.signal);
    abort.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow();
  });
});
