import { describe, expect, it } from 'vitest';
import { describeIssues } from '../../../../sidecar/config/issues.js';
import {
  RETRY_CONDITIONS,
  RetryOverrideSchema,
  RetrySchema,
  mergeRetry,
  retryConfigIssues,
} from '../../../../sidecar/retry/retryConfig.js';

/** The problems `input` is rejected with, one line each (fails the test if it is accepted). */
function problems(input: unknown): string[] {
  const result = RetrySchema.safeParse(input);
  if (result.success) throw new Error('retry policy was accepted');
  return describeIssues(result.error);
}

describe('retry policy configuration', () => {
  it('fills in every default from an empty object', () => {
    const policy = RetrySchema.parse({});
    expect(policy.retry_on).toEqual(['connect-failure', 'refused-stream', 'reset', 'gateway-error', 'unavailable']);
    expect(policy.retriable_status_codes).toEqual([]);
    expect(policy.num_retries).toBe(2);
    expect(policy.per_try_timeout).toBeUndefined();
    expect(policy.backoff.base_interval.ms).toBe(25);
    expect(policy.backoff.max_interval.ms).toBe(250);
    expect(policy.budget.retry_ratio).toBe(0.2);
    expect(policy.budget.min_retries_per_second).toBe(10);
    expect(policy.budget.ttl.ms).toBe(10_000);
    expect(policy.non_idempotent).toBe(false);
  });

  it('does not share the default retry_on array between parses', () => {
    const first = RetrySchema.parse({});
    first.retry_on.push('5xx');
    expect(RetrySchema.parse({}).retry_on).not.toContain('5xx');
  });

  it('parses durations and keeps them printable as written', () => {
    const policy = RetrySchema.parse({ per_try_timeout: '1500ms', backoff: { base_interval: '100ms' } });
    expect(policy.per_try_timeout?.ms).toBe(1_500);
    expect(policy.backoff.base_interval.ms).toBe(100);
    expect(policy.backoff.max_interval.ms).toBe(250);
    expect(JSON.parse(JSON.stringify(policy))).toMatchObject({ per_try_timeout: '1500ms', budget: { ttl: '10s' } });
  });

  it('names the allowed conditions when retry_on has an unknown one', () => {
    const [line, ...rest] = problems({ retry_on: ['5xx', 'retriable-4xx'] });
    expect(rest).toEqual([]);
    expect(line).toMatch(/^retry_on\[1\]: expected one of: /);
    for (const condition of RETRY_CONDITIONS) expect(line).toContain(`"${condition}"`);
  });

  it('requires statuses when retry_on lists retriable-status-codes', () => {
    expect(problems({ retry_on: ['retriable-status-codes'] })).toEqual([
      'retriable_status_codes: retry_on lists "retriable-status-codes", so list at least one status',
    ]);
    expect(RetrySchema.parse({ retry_on: ['retriable-status-codes'], retriable_status_codes: [409] }).retriable_status_codes).toEqual([409]);
  });

  it('rejects statuses outside 100–599', () => {
    expect(problems({ retriable_status_codes: [503, 600] })).toEqual(['retriable_status_codes[1]: must be <= 599']);
    expect(problems({ retriable_status_codes: [99] })).toEqual(['retriable_status_codes[0]: must be >= 100']);
  });

  it('bounds num_retries to 0..10 whole retries', () => {
    expect(RetrySchema.parse({ num_retries: 0 }).num_retries).toBe(0);
    expect(RetrySchema.parse({ num_retries: 10 }).num_retries).toBe(10);
    expect(problems({ num_retries: 11 })).toEqual(['num_retries: must be <= 10']);
    expect(problems({ num_retries: -1 })).toEqual(['num_retries: must be >= 0']);
    expect(problems({ num_retries: 1.5 })).toHaveLength(1);
  });

  it('rejects a backoff whose max_interval is below its base_interval', () => {
    expect(problems({ backoff: { base_interval: '500ms' } })).toEqual(['backoff.max_interval: must be at least base_interval (500ms)']);
  });

  it('rejects a budget ttl under one second and a ratio above 1', () => {
    expect(problems({ budget: { ttl: '500ms' } })).toEqual(['budget.ttl: must be at least 1s']);
    expect(problems({ budget: { retry_ratio: 1.5 } })).toEqual(['budget.retry_ratio: must be <= 1']);
    expect(problems({ budget: { min_retries_per_second: -1 } })).toEqual(['budget.min_retries_per_second: must be >= 0']);
  });

  it('rejects unknown keys at every level', () => {
    expect(problems({ attempts: 3, backoff: { jitter: true }, budget: { percent: 20 } }).sort()).toEqual([
      'attempts: unknown key',
      'backoff.jitter: unknown key',
      'budget.percent: unknown key',
    ]);
  });
});

describe('route retry override', () => {
  const base = RetrySchema.parse({ retry_on: ['5xx'], per_try_timeout: '2s', budget: { retry_ratio: 0.5 } });

  it('has no defaults, so an empty override changes nothing', () => {
    expect(RetryOverrideSchema.parse({})).toEqual({});
    expect(mergeRetry(base, RetryOverrideSchema.parse({}))).toEqual(base);
    expect(mergeRetry(base, undefined)).toBe(base);
  });

  it('replaces only the keys it sets, and arrays as a whole', () => {
    const merged = mergeRetry(base, RetryOverrideSchema.parse({ retry_on: ['reset'], num_retries: 5 }));
    expect(merged.retry_on).toEqual(['reset']);
    expect(merged.num_retries).toBe(5);
    expect(merged.per_try_timeout?.ms).toBe(2_000);
    expect(merged.non_idempotent).toBe(false);
  });

  it('merges backoff and budget key by key', () => {
    const merged = mergeRetry(base, RetryOverrideSchema.parse({ backoff: { max_interval: '1s' }, budget: { ttl: '30s' } }));
    expect(merged.backoff.base_interval.ms).toBe(25);
    expect(merged.backoff.max_interval.ms).toBe(1_000);
    expect(merged.budget.retry_ratio).toBe(0.5);
    expect(merged.budget.min_retries_per_second).toBe(10);
    expect(merged.budget.ttl.ms).toBe(30_000);
  });

  it('does not change the base policy', () => {
    mergeRetry(base, RetryOverrideSchema.parse({ num_retries: 7, backoff: { base_interval: '1ms' } }));
    expect(base.num_retries).toBe(2);
    expect(base.backoff.base_interval.ms).toBe(25);
  });

  it('validates each key as the full policy does', () => {
    expect(RetryOverrideSchema.safeParse({ retry_on: ['sometimes'] }).success).toBe(false);
    expect(RetryOverrideSchema.safeParse({ budget: { ttl: '10ms' } }).success).toBe(false);
    expect(RetryOverrideSchema.safeParse({ max_retries: 1 }).success).toBe(false);
  });

  it('leaves cross-field rules to be checked on the merged policy', () => {
    const override = RetryOverrideSchema.parse({ backoff: { base_interval: '1s' }, retry_on: ['retriable-status-codes'] });
    expect(retryConfigIssues(mergeRetry(base, override)).map((issue) => issue.path.join('.'))).toEqual([
      'retriable_status_codes',
      'backoff.max_interval',
    ]);
  });
});
