import { describe, expect, it } from 'vitest';
import type { Picker } from '../../../../sidecar/balancer/balancer.js';
import { random } from '../../../../sidecar/balancer/random.js';
import { fakeEndpoint, recordingHelper, seededRandom, type FakeEndpoint } from '../../../helpers/fakes.js';

function shares(endpoints: FakeEndpoint[], picks: number, tried: ReadonlySet<string> = new Set()): Record<string, number> {
  const helper = recordingHelper<FakeEndpoint>(seededRandom(3));
  random.create({ policy: 'random' }, helper).update(endpoints);
  const p: Picker<FakeEndpoint> = helper.picker();
  const counts: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const result = p.pick({ tried, hashKey: undefined });
    if (result.kind !== 'ok') throw new Error(result.kind);
    counts[result.endpoint.id] = (counts[result.endpoint.id] ?? 0) + 1 / picks;
  }
  return counts;
}

describe('random', () => {
  it('picks equal-weight endpoints uniformly', () => {
    const result = shares(['a', 'b', 'c', 'd'].map((id) => fakeEndpoint(id)), 100_000);
    for (const id of ['a', 'b', 'c', 'd']) expect(Math.abs((result[id] ?? 0) - 0.25)).toBeLessThan(0.01);
  });

  it('picks weighted endpoints in proportion to their weights', () => {
    const result = shares([fakeEndpoint('a', 1), fakeEndpoint('b', 2), fakeEndpoint('c', 3)], 100_000);
    expect(Math.abs((result['a'] ?? 0) - 1 / 6)).toBeLessThan(0.01);
    expect(Math.abs((result['b'] ?? 0) - 2 / 6)).toBeLessThan(0.01);
    expect(Math.abs((result['c'] ?? 0) - 3 / 6)).toBeLessThan(0.01);
  });

  it('prefers endpoints the request has not tried', () => {
    expect(Object.keys(shares(['a', 'b', 'c'].map((id) => fakeEndpoint(id)), 1_000, new Set(['a', 'c'])))).toEqual(['b']);
  });
});
