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

function setWithPools(panicThresholdPercent = 0): { set: EndpointSet; pools: Map<number, FakePool> } {
  const pools = new Map<number, FakePool>();
  const set = new EndpointSet((s) => {
    const pool = new FakePool();
    pools.set(s.port, pool);
    return pool;
  }, panicThresholdPercent);
  return { set, pools };
}

const ports = (set: EndpointSet): number[] => set.routable().endpoints.map((e) => e.port);

describe('endpoint set', () => {
  it('replaces an endpoint whose identity changes at the same address: new pool, the old one closed', () => {
    const pools: FakePool[] = [];
    const set = new EndpointSet(() => {
      const pool = new FakePool();
      pools.push(pool);
      return pool;
    }, 0);
    set.apply({ kind: 'reset', endpoints: [spec(1, { identity: 'spiffe://example.org/ns/default/svc/a' })] }, 0);
    const before = set.get('10.0.0.1:1');
    expect(set.apply({ kind: 'reset', endpoints: [spec(1, { identity: 'spiffe://example.org/ns/default/svc/b' })] }, 0)).toBe(true);
    const after = set.get('10.0.0.1:1');
    expect(after).not.toBe(before);
    expect(after?.identity).toBe('spiffe://example.org/ns/default/svc/b');
    expect(pools.map((pool) => pool.closed)).toEqual([true, false]);
  });

  it('keeps an endpoint, its pool and its counters across a reset that still lists it', () => {
    const { set, pools } = setWithPools();
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(2)] }, 0);
    const before = set.get('10.0.0.1:1');
    if (before === undefined) throw new Error('missing endpoint');
    before.activeRequests = 3;
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(3)] }, 0);
    expect(set.get('10.0.0.1:1')).toBe(before);
    expect(before.activeRequests).toBe(3);
    expect(pools.get(1)?.closed).toBe(false);
    expect(pools.get(2)?.closed).toBe(true);
    expect(ports(set)).toEqual([1, 3]);
  });

  it('closes a removed endpoint gracefully rather than destroying it', () => {
    const { set, pools } = setWithPools();
    set.apply({ kind: 'add', endpoints: [spec(1)] }, 0);
    set.apply({ kind: 'remove', endpoints: [spec(1)] }, 0);
    expect(pools.get(1)?.closed).toBe(true);
    expect(pools.get(1)?.destroyed).toBe(false);
    expect(set.size).toBe(0);
  });

  it('routes only to healthy endpoints while enough are healthy', () => {
    const { set } = setWithPools(50);
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(2), spec(3, { health: 'unhealthy' }), spec(4, { health: 'draining' })] }, 0);
    expect(set.routable()).toMatchObject({ panic: false });
    expect(ports(set)).toEqual([1, 2]);
    expect(set.size).toBe(4);
  });

  it('enters panic below the threshold and then routes to every endpoint that is not draining', () => {
    const { set } = setWithPools(50);
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(2, { health: 'unhealthy' }), spec(3, { health: 'unhealthy' }), spec(4, { health: 'unhealthy' }), spec(5, { health: 'draining' })] }, 0);
    expect(set.routable().panic).toBe(true);
    expect(ports(set)).toEqual([1, 2, 3, 4]);
    set.apply({ kind: 'add', endpoints: [spec(2), spec(3)] }, 0);
    expect(set.routable().panic).toBe(false);
    expect(ports(set)).toEqual([1, 2, 3]);
  });

  it('leaves out an endpoint whose pool went away (GOAWAY) until told it is back, falling back to it only in panic', () => {
    const { set, pools } = setWithPools(50);
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(2), spec(3)] }, 0, true);
    expect(ports(set)).toEqual([1, 2, 3]);
    (pools.get(2) as FakePool).goneAway = true;
    set.poolAvailabilityChanged();
    expect(ports(set)).toEqual([1, 3]);
    (pools.get(1) as FakePool).goneAway = true;
    set.poolAvailabilityChanged();
    expect(set.routable()).toEqual({ endpoints: [set.get('10.0.0.1:1'), set.get('10.0.0.1:2'), set.get('10.0.0.1:3')], panic: true });
    (pools.get(1) as FakePool).goneAway = false;
    (pools.get(2) as FakePool).goneAway = false;
    set.poolAvailabilityChanged();
    expect(set.routable()).toEqual({ endpoints: [set.get('10.0.0.1:1'), set.get('10.0.0.1:2'), set.get('10.0.0.1:3')], panic: false });
  });

  it('never panics with a threshold of 0', () => {
    const { set } = setWithPools(0);
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(2, { health: 'unhealthy' })] }, 0);
    expect(set.routable()).toMatchObject({ panic: false });
    expect(ports(set)).toEqual([1]);
  });

  it('starts endpoints from the first answer at full weight, later ones and recovered ones in slow start', () => {
    const { set } = setWithPools();
    set.apply({ kind: 'reset', endpoints: [spec(1), spec(2, { health: 'unhealthy' })] }, 100, true);
    expect(set.get('10.0.0.1:1')?.eligibleSince).toBeUndefined();
    set.apply({ kind: 'add', endpoints: [spec(3)] }, 200);
    expect(set.get('10.0.0.1:3')?.eligibleSince).toBe(200);
    set.apply({ kind: 'add', endpoints: [spec(2)] }, 300);
    expect(set.get('10.0.0.1:2')?.eligibleSince).toBe(300);
  });

  it('reports a change only when something a balancer sees changed', () => {
    const { set } = setWithPools();
    expect(set.apply({ kind: 'reset', endpoints: [spec(1)] }, 0)).toBe(true);
    expect(set.apply({ kind: 'reset', endpoints: [spec(1)] }, 0)).toBe(false);
    expect(set.apply({ kind: 'reset', endpoints: [spec(1, { metadata: {} })] }, 0)).toBe(false);
    expect(set.apply({ kind: 'reset', endpoints: [spec(1, { weight: 2 })] }, 0)).toBe(true);
    expect(set.apply({ kind: 'reset', endpoints: [spec(1, { weight: 2, metadata: { zone: 'a' } })] }, 0)).toBe(true);
    expect(set.apply({ kind: 'add', endpoints: [spec(1, { weight: 2, health: 'unhealthy', metadata: { zone: 'a' } })] }, 0)).toBe(true);
    expect(ports(set)).toEqual([]);
  });
});
