import { describe, expect, it } from 'vitest';
import type { EndpointSpec } from '../../../../discovery/resolver.js';
import { EndpointSet } from '../../../../sidecar/cluster/endpointSet.js';
import { FakePool } from '../../../helpers/fakes.js';

const spec = (port: number, extra: Partial<EndpointSpec> = {}): EndpointSpec => ({
  address: '10.0.0.1',
  port,
  weight: 1,
  health: 'healthy',
  metadata: {},
  ...extra,
});

function setWithPools(): { set: EndpointSet; pools: Map<number, FakePool> } {
  const pools = new Map<number, FakePool>();
  const set = new EndpointSet((s) => {
    const pool = new FakePool();
    pools.set(s.port, pool);
    return pool;
  });
  return { set, pools };
}

describe('endpoint set', () => {
  it('keeps an endpoint, its pool and its counters across a reset that still lists it', () => {
    const { set, pools } = setWithPools();
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(2)] });
    const before = set.eligible().find((e) => e.port === 1);
    if (before === undefined) throw new Error('missing endpoint');
    before.activeRequests = 3;
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(3)] });
    const after = set.eligible().find((e) => e.port === 1);
    expect(after).toBe(before);
    expect(after?.activeRequests).toBe(3);
    expect(pools.get(1)?.closed).toBe(false);
    expect(pools.get(2)?.closed).toBe(true);
    expect(set.eligible().map((e) => e.port)).toEqual([1, 3]);
  });

  it('closes a removed endpoint gracefully rather than destroying it', () => {
    const { set, pools } = setWithPools();
    set.apply({ kind: 'add', endpoints: [spec(1)] });
    set.apply({ kind: 'remove', endpoints: [spec(1)] });
    expect(pools.get(1)?.closed).toBe(true);
    expect(pools.get(1)?.destroyed).toBe(false);
    expect(set.size).toBe(0);
  });

  it('makes only healthy endpoints eligible', () => {
    const { set } = setWithPools();
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(2, { health: 'unhealthy' }), spec(3, { health: 'draining' })] });
    expect(set.eligible().map((e) => e.port)).toEqual([1]);
    expect(set.size).toBe(3);
  });

  it('reports a change only when something a balancer sees changed', () => {
    const { set } = setWithPools();
    expect(set.apply({ kind: 'reset', endpoints: [spec(1)] })).toBe(true);
    expect(set.apply({ kind: 'reset', endpoints: [spec(1)] })).toBe(false);
    expect(set.apply({ kind: 'reset', endpoints: [spec(1, { metadata: {} })] })).toBe(false);
    expect(set.apply({ kind: 'reset', endpoints: [spec(1, { weight: 2 })] })).toBe(true);
    expect(set.apply({ kind: 'reset', endpoints: [spec(1, { weight: 2, metadata: { zone: 'a' } })] })).toBe(true);
    expect(set.apply({ kind: 'add', endpoints: [spec(1, { weight: 2, health: 'unhealthy', metadata: { zone: 'a' } })] })).toBe(true);
    expect(set.eligible()).toEqual([]);
  });
});
