import { describe, expect, it } from 'vitest';
import type { BalancerEndpoint, Picker } from '../../../../sidecar/balancer/balancer.js';
import { roundRobin } from '../../../../sidecar/balancer/roundRobin.js';
import { fakeEndpoint, recordingHelper } from '../../../helpers/fakes.js';

function picker(endpoints: BalancerEndpoint[]): Picker<BalancerEndpoint> {
  const helper = recordingHelper<BalancerEndpoint>();
  roundRobin.create({ policy: 'round_robin' }, helper).update(endpoints);
  return helper.picker();
}

function pickIds(p: Picker<BalancerEndpoint>, count: number, tried: ReadonlySet<string> = new Set()): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const result = p.pick({ tried, hashKey: undefined });
    if (result.kind !== 'ok') throw new Error(`unexpected ${result.kind}`);
    ids.push(result.endpoint.id);
  }
  return ids;
}

function counts(ids: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of ids) out[id] = (out[id] ?? 0) + 1;
  return out;
}

describe('round_robin', () => {
  it('visits equal-weight endpoints in turn', () => {
    const ids = pickIds(picker(['a', 'b', 'c'].map((id) => fakeEndpoint(id))), 9);
    expect(counts(ids)).toEqual({ a: 3, b: 3, c: 3 });
    expect(new Set(ids.slice(0, 3)).size).toBe(3);
  });

  it('gives weighted endpoints their exact share, interleaved rather than in bursts', () => {
    const ids = pickIds(picker([fakeEndpoint('a', 5), fakeEndpoint('b', 1), fakeEndpoint('c', 1)]), 700);
    expect(counts(ids)).toEqual({ a: 500, b: 100, c: 100 });
    let longestRun = 0;
    for (let i = 0, run = 0; i < ids.length; i++) longestRun = Math.max(longestRun, (run = ids[i] === ids[i - 1] ? run + 1 : 1));
    expect(longestRun).toBeLessThanOrEqual(4);
  });

  it('prefers endpoints the request has not tried', () => {
    const p = picker(['a', 'b', 'c'].map((id) => fakeEndpoint(id)));
    for (let i = 0; i < 30; i++) expect(pickIds(p, 1, new Set(['a', 'b']))).toEqual(['c']);
  });

  it('still picks when every endpoint was tried', () => {
    const p = picker(['a', 'b'].map((id) => fakeEndpoint(id)));
    expect(['a', 'b']).toContain(pickIds(p, 1, new Set(['a', 'b']))[0]);
  });

  it('starts different pickers at different endpoints', () => {
    const endpoints = ['a', 'b', 'c', 'd'].map((id) => fakeEndpoint(id));
    const firsts = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const helper = recordingHelper<BalancerEndpoint>(() => ((seed * 0.37) % 1));
      roundRobin.create({ policy: 'round_robin' }, helper).update(endpoints);
      firsts.add(pickIds(helper.picker(), 1)[0] as string);
    }
    expect(firsts.size).toBeGreaterThan(1);
  });
});
