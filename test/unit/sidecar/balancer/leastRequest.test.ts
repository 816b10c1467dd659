import { describe, expect, it } from 'vitest';
import type { Picker } from '../../../../sidecar/balancer/balancer.js';
import { leastRequest } from '../../../../sidecar/balancer/leastRequest.js';
import { fakeEndpoint, recordingHelper, seededRandom, type FakeEndpoint } from '../../../helpers/fakes.js';

function picker(endpoints: FakeEndpoint[], config: { choice_count?: number; active_request_bias?: number } = {}, seed = 1): Picker<FakeEndpoint> {
  const helper = recordingHelper<FakeEndpoint>(seededRandom(seed));
  const parsed = leastRequest.configSchema.parse({ policy: 'least_request', ...config });
  leastRequest.create(parsed, helper).update(endpoints);
  return helper.picker();
}

function shares(p: Picker<FakeEndpoint>, picks: number, tried: ReadonlySet<string> = new Set()): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const result = p.pick({ tried, hashKey: undefined });
    if (result.kind !== 'ok') throw new Error(result.kind);
    counts[result.endpoint.id] = (counts[result.endpoint.id] ?? 0) + 1;
  }
  for (const id of Object.keys(counts)) counts[id] = (counts[id] as number) / picks;
  return counts;
}

describe('least_request', () => {
  it('sends a loaded endpoint under 5 % of 100,000 picks when four others are idle', () => {
    const endpoints = ['a', 'b', 'c', 'd', 'e'].map((id) => fakeEndpoint(id));
    (endpoints[0] as FakeEndpoint).activeRequests = 10;
    const share = shares(picker(endpoints), 100_000)['a'] ?? 0;
    expect(share).toBeLessThan(0.05);
  });

  it('spreads picks evenly over equally loaded endpoints', () => {
    const result = shares(picker(['a', 'b', 'c', 'd'].map((id) => fakeEndpoint(id))), 100_000);
    for (const id of ['a', 'b', 'c', 'd']) expect(result[id]).toBeCloseTo(0.25, 1);
  });

  it('gives 1:2:3 weighted endpoints with equal load their shares within ±3 %', () => {
    const result = shares(picker([fakeEndpoint('a', 1), fakeEndpoint('b', 2), fakeEndpoint('c', 3)]), 100_000);
    expect(Math.abs((result['a'] ?? 0) - 1 / 6)).toBeLessThan(0.03);
    expect(Math.abs((result['b'] ?? 0) - 2 / 6)).toBeLessThan(0.03);
    expect(Math.abs((result['c'] ?? 0) - 3 / 6)).toBeLessThan(0.03);
  });

  it('weighs load against weight: a heavy endpoint with many requests in flight gets less', () => {
    const heavy = fakeEndpoint('heavy', 3);
    heavy.activeRequests = 5; // 3 / (5 + 1) = 0.5 against 1 / 1
    const result = shares(picker([heavy, fakeEndpoint('light', 1)]), 60_000);
    expect(result['heavy']).toBeCloseTo(1 / 3, 1);
    const ignoringLoad = shares(picker([heavy, fakeEndpoint('light', 1)], { active_request_bias: 0 }), 60_000);
    expect(ignoringLoad['heavy']).toBeCloseTo(3 / 4, 1);
  });

  it('balances by effective weight, so slow start applies', () => {
    const ramping = fakeEndpoint('ramping', 1);
    ramping.effectiveWeight = 0.5;
    const result = shares(picker([ramping, fakeEndpoint('full', 1)]), 30_000);
    expect(result['ramping']).toBeCloseTo(1 / 3, 1);
  });

  it('compares choice_count distinct endpoints', () => {
    const endpoints = ['a', 'b', 'c'].map((id) => fakeEndpoint(id));
    (endpoints[0] as FakeEndpoint).activeRequests = 2;
    (endpoints[1] as FakeEndpoint).activeRequests = 1;
    // Comparing all three, the idle one always wins; with two, the busiest never can.
    expect(shares(picker(endpoints, { choice_count: 3 }), 1_000)).toEqual({ c: 1 });
    expect(shares(picker(endpoints, { choice_count: 2 }), 10_000)['a']).toBeUndefined();
  });

  it('prefers endpoints the request has not tried, in both modes', () => {
    expect(shares(picker(['a', 'b', 'c'].map((id) => fakeEndpoint(id))), 1_000, new Set(['a', 'b']))).toEqual({ c: 1 });
    expect(shares(picker([fakeEndpoint('a', 1), fakeEndpoint('b', 2), fakeEndpoint('c', 3)]), 1_000, new Set(['b', 'c']))).toEqual({ a: 1 });
  });

  it('rejects a choice_count below 2', () => {
    expect(leastRequest.configSchema.safeParse({ policy: 'least_request', choice_count: 1 }).success).toBe(false);
  });
});
