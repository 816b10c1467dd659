import { describe, expect, it } from 'vitest';
import { ringHash } from '../../../../sidecar/balancer/ringHash.js';
import { fakeEndpoint, type FakeEndpoint } from '../../../helpers/fakes.js';
import { build as buildPolicy, endpoints, KEYS, mapping, movement, shares, type HashingHelper } from '../../../helpers/hashing.js';

const build = (all: FakeEndpoint[], config: object = {}, helper?: HashingHelper) => buildPolicy(ringHash, all, config, helper);

describe('ring_hash', () => {
  it('gives each of 10 endpoints 10 % ± 25 % of the keys', () => {
    const share = shares(mapping(build(endpoints(10)).picker));
    expect(share.size).toBe(10);
    // Measured: 8.97 % to 12.17 % with 128 virtual nodes per endpoint.
    for (const value of share.values()) expect(Math.abs(value - 0.1)).toBeLessThanOrEqual(0.025);
  });

  it('moves 7–12 % of keys when an 11th endpoint joins, all of them onto the new endpoint', () => {
    const before = mapping(build(endpoints(10)).picker);
    const after = mapping(build(endpoints(11)).picker);
    const { moved, movedBetweenOld } = movement(before, after, '10.0.0.11:8080');
    expect(movedBetweenOld).toBe(0);
    // Measured: 9.56 %.
    expect(moved / KEYS.length).toBeGreaterThanOrEqual(0.07);
    expect(moved / KEYS.length).toBeLessThanOrEqual(0.12);
  });

  it('moves only the keys of an endpoint that leaves', () => {
    const all = endpoints(10);
    const before = mapping(build(all).picker);
    const after = mapping(build(all.filter((endpoint) => endpoint.id !== '10.0.0.4:8080')).picker);
    let moved = 0;
    let movedOthers = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === '10.0.0.4:8080') moved++;
      else if (after[i] !== before[i]) movedOthers++;
    }
    expect(movedOthers).toBe(0);
    expect(moved).toBeGreaterThan(0);
    expect(after).not.toContain('10.0.0.4:8080');
  });

  it('maps keys identically in independently built balancers, whatever the endpoint order', () => {
    const first = mapping(build(endpoints(10)).picker);
    expect(mapping(build(endpoints(10)).picker)).toEqual(first);
    expect(mapping(build(endpoints(10).reverse()).picker)).toEqual(first);
  });

  it('shares keys 1:2:3 between endpoints weighted 1:2:3, within 15 %', () => {
    const { balancer, picker } = build([fakeEndpoint('a:80', 1), fakeEndpoint('b:80', 2), fakeEndpoint('c:80', 3)]);
    // W = 6 is below the minimum ring of 1024 at 128 nodes per unit, so V rises to ceil(1024 / 6) = 171.
    expect(balancer.describe?.()).toEqual({ ring_size: 1026, min_vnodes_per_endpoint: 171, max_vnodes_per_endpoint: 513 });
    const share = shares(mapping(picker));
    // With 171 nodes the lightest endpoint's arc has a relative spread of about 1/√171 ≈ 7.6 %, so
    // ±15 % is two standard deviations. Measured: 18.4 %, 32.5 %, 49.1 %.
    for (const [id, expected] of [['a:80', 1 / 6], ['b:80', 2 / 6], ['c:80', 3 / 6]] as const) {
      expect(Math.abs((share.get(id) as number) / expected - 1)).toBeLessThanOrEqual(0.15);
    }
  });

  it('treats discovery weights relative to the smallest, so 100:100 builds the same ring as 1:1', () => {
    const unit = build(endpoints(10));
    const hundreds = build(endpoints(10).map((endpoint) => fakeEndpoint(endpoint.id, 100)));
    expect(hundreds.balancer.describe?.()).toEqual(unit.balancer.describe?.());
    expect(mapping(hundreds.picker)).toEqual(mapping(unit.picker));
  });

  it('gives a slow-starting endpoint proportionally fewer nodes, and its growth only takes keys onto it', () => {
    const all = endpoints(11);
    const ramping = all[10] as FakeEndpoint;
    ramping.effectiveWeight = 0.25;
    const quarter = build(all);
    expect(quarter.balancer.describe?.()).toEqual({ ring_size: 1312, min_vnodes_per_endpoint: 32, max_vnodes_per_endpoint: 128 });
    const before = mapping(quarter.picker);
    ramping.effectiveWeight = 0.5;
    const after = mapping(build(all).picker);
    expect(after.filter((id, i) => id !== before[i] && id !== ramping.id)).toEqual([]);
    expect(shares(after).get(ramping.id)).toBeGreaterThan(shares(before).get(ramping.id) as number);
  });

  it('describes its ring', () => {
    expect(build(endpoints(10)).balancer.describe?.()).toEqual({ ring_size: 1280, min_vnodes_per_endpoint: 128, max_vnodes_per_endpoint: 128 });
    // Three endpoints are too few for 128 nodes each to reach 1024, so each gets ceil(1024 / 3).
    expect(build(endpoints(3)).balancer.describe?.()).toEqual({ ring_size: 1026, min_vnodes_per_endpoint: 342, max_vnodes_per_endpoint: 342 });
    // Twenty endpoints at 128 nodes would pass a maximum of 2048, so each gets floor(2048 / 20).
    expect(build(endpoints(20), { maximum_ring_size: 2048 }).balancer.describe?.()).toEqual({
      ring_size: 2040,
      min_vnodes_per_endpoint: 102,
      max_vnodes_per_endpoint: 102,
    });
  });

  it('keeps a large weighted upstream within the default maximum of 2^20 nodes, weights still honoured', () => {
    // 10,000 endpoints of weights 1..5 at 128 nodes a unit would make a ~3.8 M-node ring.
    const all = Array.from({ length: 10_000 }, (_, i) => fakeEndpoint(`10.0.${i >> 8}.${i & 255}:80`, 1 + (i % 5)));
    const described = build(all).balancer.describe?.() as { ring_size: number; min_vnodes_per_endpoint: number; max_vnodes_per_endpoint: number };
    expect(described.ring_size).toBeLessThanOrEqual(1_048_576);
    expect(described.ring_size).toBeGreaterThan(1_048_576 - 10_000);
    // ~35 nodes a unit, rounded down: weight 5 gets 174, weight 1 gets 34.
    const ratio = described.max_vnodes_per_endpoint / described.min_vnodes_per_endpoint;
    expect(ratio).toBeGreaterThan(4.75);
    expect(ratio).toBeLessThan(5.25);
  });

  describe('config', () => {
    const issues = (input: object) => {
      const result = ringHash.configSchema.safeParse({ policy: 'ring_hash', ...input });
      return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    };

    it('defaults to Envoy’s minimum ring size, a 2^20-node maximum and unbounded load', () => {
      expect(ringHash.configSchema.parse({ policy: 'ring_hash' })).toEqual({ policy: 'ring_hash', minimum_ring_size: 1024, maximum_ring_size: 1_048_576 });
      expect(ringHash.usesHashKey).toBe(true);
    });

    it('rejects sizes and factors out of range, naming the field', () => {
      expect(issues({ minimum_ring_size: 0 })).toMatchObject([{ path: 'minimum_ring_size' }]);
      expect(issues({ maximum_ring_size: 8_388_609 })).toMatchObject([{ path: 'maximum_ring_size' }]);
      expect(issues({ minimum_ring_size: 1.5 })).toMatchObject([{ path: 'minimum_ring_size' }]);
      expect(issues({ hash_balance_factor: 99 })).toMatchObject([{ path: 'hash_balance_factor' }]);
    });

    it('rejects a maximum below the minimum on maximum_ring_size', () => {
      expect(issues({ minimum_ring_size: 2048, maximum_ring_size: 1024 })).toEqual([{ path: 'maximum_ring_size', message: 'must be at least minimum_ring_size' }]);
    });

    it('rejects unknown keys', () => {
      const found = issues({ ring_size: 10 });
      expect(found).toHaveLength(1);
      expect(found[0]?.message).toContain('ring_size');
    });
  });
});
