import { describe, expect, it } from 'vitest';
import { maglev } from '../../../../sidecar/balancer/maglev.js';
import { hash53 } from '../../../../sidecar/balancer/support/xxhash64.js';
import { fakeEndpoint, type FakeEndpoint } from '../../../helpers/fakes.js';
import { build as buildPolicy, endpoints, KEYS, mapping, movement, NONE_TRIED, pickId, shares, type HashingHelper } from '../../../helpers/hashing.js';

const build = (all: FakeEndpoint[], config: object = {}, helper?: HashingHelper) => buildPolicy(maglev, all, config, helper);

/**
 * Maglev (NSDI 2016 §3.4) buys near-perfect balance with slightly imperfect stability: when the table
 * is repopulated, an old endpoint whose preferred slot is now taken claims its next preference, which
 * can belong to another old endpoint. The paper accepts this (§5.3); we bound it. Measured with these
 * ids: 0.198 % of keys move between old endpoints when an 11th joins and 0.202 % when one leaves,
 * against 9 % moving to or from the changed endpoint. The bound of 0.5 % leaves room for other ids
 * while still failing for a table whose population reshuffled (which would move ~90 % of keys).
 */
const MAX_CASCADE = 0.005;

describe('maglev', () => {
  it('gives each of 10 endpoints 10 % ± 5 % of the keys', () => {
    const share = shares(mapping(build(endpoints(10)).picker));
    expect(share.size).toBe(10);
    // Measured: 9.87 % to 10.10 %; the table itself is balanced to a slot (6,553 or 6,554 each).
    for (const value of share.values()) expect(Math.abs(value - 0.1)).toBeLessThanOrEqual(0.005);
  });

  it('moves 7–12 % of keys when an 11th endpoint joins, nearly all onto the new endpoint', () => {
    const before = mapping(build(endpoints(10)).picker);
    const after = mapping(build(endpoints(11)).picker);
    const { moved, movedBetweenOld } = movement(before, after, '10.0.0.11:8080');
    // Measured: 9.21 % moved, 9.01 % onto the new endpoint and 0.198 % between old ones.
    expect(moved / KEYS.length).toBeGreaterThanOrEqual(0.07);
    expect(moved / KEYS.length).toBeLessThanOrEqual(0.12);
    expect(movedBetweenOld / KEYS.length).toBeLessThan(MAX_CASCADE);
  });

  it('moves all keys of an endpoint that leaves and almost no others', () => {
    const all = endpoints(10);
    const before = mapping(build(all).picker);
    const after = mapping(build(all.filter((endpoint) => endpoint.id !== '10.0.0.4:8080')).picker);
    let movedOthers = 0;
    for (let i = 0; i < KEYS.length; i++) if (before[i] !== '10.0.0.4:8080' && after[i] !== before[i]) movedOthers++;
    expect(after).not.toContain('10.0.0.4:8080');
    // Measured: 0.202 %.
    expect(movedOthers / KEYS.length).toBeLessThan(MAX_CASCADE);
  });

  it('maps keys identically in independently built balancers, whatever the endpoint order', () => {
    const first = mapping(build(endpoints(10)).picker);
    expect(mapping(build(endpoints(10)).picker)).toEqual(first);
    expect(mapping(build(endpoints(10).reverse()).picker)).toEqual(first);
  });

  it('shares keys 1:2:3 between endpoints weighted 1:2:3, within 3 %', () => {
    const share = shares(mapping(build([fakeEndpoint('a:80', 1), fakeEndpoint('b:80', 2), fakeEndpoint('c:80', 3)]).picker));
    // The table holds slots in exactly 1:2:3 (to one slot); what remains is the sampling error of
    // 100,000 keys, about 0.9 % relative for the lightest endpoint, so 3 % is over three standard
    // deviations. Measured: 16.72 %, 33.34 %, 49.95 %.
    for (const [id, expected] of [['a:80', 1 / 6], ['b:80', 2 / 6], ['c:80', 3 / 6]] as const) {
      expect(Math.abs((share.get(id) as number) / expected - 1)).toBeLessThanOrEqual(0.03);
    }
  });

  it('gives a slow-starting endpoint a share in proportion to its effective weight', () => {
    const all = endpoints(11);
    (all[10] as FakeEndpoint).effectiveWeight = 0.25;
    const share = shares(mapping(build(all).picker)).get('10.0.0.11:8080') as number;
    expect(Math.abs(share / (0.25 / 10.25) - 1)).toBeLessThanOrEqual(0.05);
  });

  it('still picks when the table has fewer slots than there are endpoints', () => {
    const all = endpoints(10);
    const { picker } = build(all, { table_size: 7 });
    const everyone = new Set(all.map((endpoint) => endpoint.id));
    const hashKey = hash53('session-42');
    const first = pickId(picker, { tried: NONE_TRIED, hashKey });
    expect(pickId(picker, { tried: everyone, hashKey })).toBe(first);
  });

  it('describes its table', () => {
    expect(build(endpoints(3)).balancer.describe?.()).toEqual({ table_size: 65_537 });
    expect(build(endpoints(3), { table_size: 251 }).balancer.describe?.()).toEqual({ table_size: 251 });
  });

  describe('config', () => {
    const issues = (input: object) => {
      const result = maglev.configSchema.safeParse({ policy: 'maglev', ...input });
      return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    };

    it('defaults to Envoy’s table size and unbounded load', () => {
      expect(maglev.configSchema.parse({ policy: 'maglev' })).toEqual({ policy: 'maglev', table_size: 65_537 });
      expect(maglev.usesHashKey).toBe(true);
    });

    it('rejects a table size that is not prime, naming the field', () => {
      expect(issues({ table_size: 65_536 })).toEqual([{ path: 'table_size', message: 'must be a prime number' }]);
      expect(issues({ table_size: 1 })).toEqual([{ path: 'table_size', message: 'must be a prime number' }]);
    });

    it('rejects a table size above 5,000,011 and a balance factor below 100', () => {
      const tooBig = issues({ table_size: 5_000_077 });
      expect(tooBig).toMatchObject([{ path: 'table_size' }]);
      expect(tooBig[0]?.message).toContain('5000011');
      expect(issues({ hash_balance_factor: 99 })).toMatchObject([{ path: 'hash_balance_factor' }]);
    });

    it('rejects unknown keys', () => {
      const found = issues({ ring_size: 10 });
      expect(found).toHaveLength(1);
      expect(found[0]?.message).toContain('ring_size');
    });
  });
});
