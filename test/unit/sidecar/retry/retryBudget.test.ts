import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../../../sidecar/retry/retryBudget.js';
import { RetrySchema } from '../../../../sidecar/retry/retryConfig.js';

/** A budget on a fake clock the test moves by hand. */
function budgetAt(input: Record<string, unknown> = {}, start = 0): { budget: RetryBudget; advance: (ms: number) => void } {
  let now = start;
  const budget = new RetryBudget(RetrySchema.parse({ budget: input }).budget, () => now);
  return { budget, advance: (ms) => (now += ms) };
}

/** How many of `wanted` retries the budget allows right now. */
function withdrawals(budget: RetryBudget, wanted: number): number {
  let allowed = 0;
  for (let i = 0; i < wanted; i++) if (budget.tryWithdraw()) allowed++;
  return allowed;
}

function deposits(budget: RetryBudget, count: number): void {
  for (let i = 0; i < count; i++) budget.deposit();
}

describe('RetryBudget', () => {
  it('the floor allows 10 retries per second with no requests', () => {
    const { budget, advance } = budgetAt();
    expect(withdrawals(budget, 15)).toBe(10);
    advance(999);
    expect(withdrawals(budget, 5)).toBe(0);
    advance(1);
    expect(withdrawals(budget, 15)).toBe(10);
  });

  it('the floor follows clock seconds, not the first retry', () => {
    const { budget, advance } = budgetAt({}, 800);
    expect(withdrawals(budget, 10)).toBe(10);
    advance(200);
    expect(withdrawals(budget, 10)).toBe(10);
  });

  it('retries are capped at 20 % of requests once the floor is used up', () => {
    const { budget } = budgetAt();
    expect(withdrawals(budget, 10)).toBe(10);
    deposits(budget, 100);
    // 20 retries for 100 requests, of which the floor's 10 already count.
    expect(withdrawals(budget, 50)).toBe(10);
  });

  it('the ratio allows retries beyond the floor within the same second', () => {
    const { budget } = budgetAt({ min_retries_per_second: 0 });
    deposits(budget, 100);
    expect(withdrawals(budget, 100)).toBe(20);
  });

  it('a zero floor and a zero ratio allow no retries', () => {
    const { budget } = budgetAt({ min_retries_per_second: 0, retry_ratio: 0 });
    deposits(budget, 1_000);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('a ratio landing exactly on a whole number of retries allows that number', () => {
    const { budget } = budgetAt({ min_retries_per_second: 0, retry_ratio: 0.29 });
    deposits(budget, 100);
    expect(withdrawals(budget, 100)).toBe(29);
  });

  it('old buckets leave the window after ttl', () => {
    const { budget, advance } = budgetAt({ min_retries_per_second: 0, ttl: '10s' });
    deposits(budget, 100);
    advance(9_999);
    expect(budget.describe()).toMatchObject({ requests_in_window: 100, retries_allowed_now: true });
    advance(1);
    expect(budget.describe()).toMatchObject({ requests_in_window: 0, retries_in_window: 0, retries_allowed_now: false });
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('the window slides one bucket (ttl/10) at a time', () => {
    const { budget, advance } = budgetAt({ min_retries_per_second: 0, ttl: '10s' });
    for (let second = 0; second < 10; second++) {
      deposits(budget, 10);
      advance(1_000);
    }
    // Now at t = 10 s: the first second's bucket has just left; nine remain.
    expect(budget.describe()).toMatchObject({ requests_in_window: 90 });
    advance(4_000);
    expect(budget.describe()).toMatchObject({ requests_in_window: 50 });
  });

  it('a retry taken leaves the window with its bucket', () => {
    const { budget, advance } = budgetAt({ min_retries_per_second: 0 });
    deposits(budget, 10);
    expect(withdrawals(budget, 5)).toBe(2);
    advance(5_000);
    deposits(budget, 10);
    expect(withdrawals(budget, 5)).toBe(2);
    advance(5_000);
    // The first 10 requests and 2 retries have left; 10 requests and 2 retries remain.
    expect(budget.describe()).toMatchObject({ requests_in_window: 10, retries_in_window: 2 });
    expect(withdrawals(budget, 5)).toBe(0);
  });

  it('a long idle gap empties the whole window', () => {
    const { budget, advance } = budgetAt({ min_retries_per_second: 0 });
    deposits(budget, 100);
    withdrawals(budget, 10);
    advance(3_600_000);
    expect(budget.describe()).toMatchObject({ requests_in_window: 0, retries_in_window: 0 });
    deposits(budget, 5);
    expect(withdrawals(budget, 5)).toBe(1);
  });

  it('counts refusals in exhausted_total', () => {
    const { budget } = budgetAt({ min_retries_per_second: 2 });
    expect(withdrawals(budget, 5)).toBe(2);
    expect(budget.describe()).toEqual({
      retry_ratio: 0.2,
      min_retries_per_second: 2,
      ttl_ms: 10_000,
      requests_in_window: 0,
      retries_in_window: 2,
      retries_allowed_now: false,
      exhausted_total: 3,
    });
  });

  it('describe() does not withdraw', () => {
    const { budget } = budgetAt({ min_retries_per_second: 1 });
    expect(budget.describe()['retries_allowed_now']).toBe(true);
    expect(budget.describe()['retries_allowed_now']).toBe(true);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.describe()['retries_allowed_now']).toBe(false);
  });

  it('10 s of 100 requests/s each wanting a retry stays between 20 % and 20 % plus the floor', () => {
    const { budget, advance } = budgetAt();
    let requests = 0;
    let retries = 0;
    for (let tick = 0; tick < 1_000; tick++) {
      budget.deposit();
      requests++;
      if (budget.tryWithdraw()) retries++;
      advance(10);
    }
    expect(requests).toBe(1_000);
    expect(retries).toBeGreaterThanOrEqual(0.2 * requests);
    expect(retries).toBeLessThanOrEqual(0.2 * requests + 10 * 10);
  });

  it('a burst of failures after a quiet spell is held to the ratio of the requests in the window', () => {
    const { budget, advance } = budgetAt();
    for (let second = 0; second < 10; second++) {
      deposits(budget, 50);
      advance(1_000);
    }
    // 450 requests in the window (the first second's 50 have left), no retries yet.
    expect(withdrawals(budget, 1_000)).toBe(90);
  });
});
