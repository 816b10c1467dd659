import { describe, expect, it } from 'vitest';
import type { Balancer, BalancerHelper, PickContext, Picker } from '../../../../sidecar/balancer/balancer.js';
import { ringHash } from '../../../../sidecar/balancer/ringHash.js';
import { hash53 } from '../../../../sidecar/balancer/support/xxhash64.js';
import { fakeEndpoint, recordingHelper, seededRandom, type FakeEndpoint } from '../../../helpers/fakes.js';

const KEYS = Array.from({ length: 100_000 }, (_, n) => hash53(`key-${n}`));
const NONE_TRIED: ReadonlySet<string> = new Set();

function build(endpoints: FakeEndpoint[], config: object = {}, helper: BalancerHelper<FakeEndpoint> & { picker(): Picker<FakeEndpoint> } = recordingHelper()) {
  const balancer: Balancer<FakeEndpoint> = ringHash.create(ringHash.configSchema.parse({ policy: 'ring_hash', ...config }), helper);
  balancer.update(endpoints);
  return { balancer, picker: helper.picker() };
}

function pickId(picker: Picker<FakeEndpoint>, ctx: PickContext): string {
  const result = picker.pick(ctx);
  if (result.kind !== 'ok') throw new Error(`unexpected ${result.kind}`);
  return result.endpoint.id;
}

/** The endpoint id each of the 100,000 keys maps to. */
function mapping(picker: Picker<FakeEndpoint>): string[] {
  return KEYS.map((hashKey) => pickId(picker, { tried: NONE_TRIED, hashKey }));
}

function shares(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const [id, count] of counts) counts.set(id, count / ids.length);
  return counts;
}

const endpoints = (count: number): FakeEndpoint[] => Array.from({ length: count }, (_, i) => fakeEndpoint(`10.0.0.${i + 1}:8080`));

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
    let moved = 0;
    let movedBetweenOld = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (after[i] === before[i]) continue;
      moved++;
      if (after[i] !== '10.0.0.11:8080') movedBetweenOld++;
    }
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

  it('keeps a hot key within its bounded-load capacity, spilling to the next endpoints clockwise', () => {
    const all = endpoints(10);
    const hotKey = hash53('hot-user');
    const { picker } = build(all, { hash_balance_factor: 150 }, recordingHelper(seededRandom(1), () => inFlightOver(all)));
    const hot = all.find((endpoint) => endpoint.id === pickId(picker, { tried: NONE_TRIED, hashKey: hotKey })) as FakeEndpoint;
    const random = seededRandom(7);
    const inFlight: FakeEndpoint[] = [];
    let total = 0;
    let hotPicks = 0;
    for (let step = 0; step < 3000; step++) {
      const id = pickId(picker, { tried: NONE_TRIED, hashKey: hotKey });
      const endpoint = all.find((candidate) => candidate.id === id) as FakeEndpoint;
      endpoint.activeRequests++;
      total++;
      inFlight.push(endpoint);
      if (endpoint === hot) hotPicks++;
      // Capacity is ceil(1.5 · (A + 1) / 10) with A counted before this request: 1.5 × the average
      // once it is in flight. The bound holds at each pick, which is where the balancer decides;
      // between picks, completions elsewhere can lower the average under an endpoint's fixed load.
      expect(hot.activeRequests).toBeLessThanOrEqual(Math.ceil((1.5 * total) / all.length));
      expect(endpoint.activeRequests).toBeLessThanOrEqual(Math.ceil((1.5 * total) / all.length));
      // Finish a random request most steps, so load rises slowly and every endpoint sees completions.
      if (random() < 0.9 && inFlight.length > 0) {
        const done = inFlight.splice(Math.floor(random() * inFlight.length), 1)[0] as FakeEndpoint;
        done.activeRequests--;
        total--;
      }
    }
    expect(total).toBeGreaterThan(100);
    expect(hotPicks).toBeGreaterThan(0);
    expect(hotPicks).toBeLessThan(3000 * 0.5);
  });

  it('sends every request for a hot key to one endpoint when load is unbounded', () => {
    const all = endpoints(10);
    const { picker } = build(all);
    const ids = new Set<string>();
    for (let step = 0; step < 100; step++) {
      const id = pickId(picker, { tried: NONE_TRIED, hashKey: hash53('hot-user') });
      (all.find((endpoint) => endpoint.id === id) as FakeEndpoint).activeRequests++;
      ids.add(id);
    }
    expect(ids.size).toBe(1);
  });

  it('prefers an endpoint the request has not tried, consistently, and takes the hashed one when all were tried', () => {
    const all = endpoints(10);
    const { picker } = build(all);
    const hashKey = hash53('session-42');
    const first = pickId(picker, { tried: NONE_TRIED, hashKey });
    const second = pickId(picker, { tried: new Set([first]), hashKey });
    expect(second).not.toBe(first);
    expect(pickId(picker, { tried: new Set([first]), hashKey })).toBe(second);
    const third = pickId(picker, { tried: new Set([first, second]), hashKey });
    expect([first, second]).not.toContain(third);
    expect(pickId(picker, { tried: new Set(all.map((endpoint) => endpoint.id)), hashKey })).toBe(first);
  });

  it('spreads requests without a hash key over the endpoints at random', () => {
    const { picker } = build(endpoints(10), {}, recordingHelper(seededRandom(3)));
    const ids: string[] = [];
    for (let i = 0; i < 2000; i++) ids.push(pickId(picker, { tried: NONE_TRIED, hashKey: undefined }));
    const share = shares(ids);
    expect(share.size).toBe(10);
    for (const value of share.values()) expect(value).toBeGreaterThan(0.05);
  });

  it('describes its ring', () => {
    expect(build(endpoints(10)).balancer.describe?.()).toEqual({ ring_size: 1280, min_vnodes_per_endpoint: 128, max_vnodes_per_endpoint: 128 });
    // Three endpoints are too few for 128 nodes each to reach 1024, so each gets ceil(1024 / 3).
    expect(build(endpoints(3)).balancer.describe?.()).toEqual({ ring_size: 1026, min_vnodes_per_endpoint: 342, max_vnodes_per_endpoint: 342 });
    // Twenty endpoints at 128 nodes would pass a maximum of 2048, so each gets round(2048 / 20).
    expect(build(endpoints(20), { maximum_ring_size: 2048 }).balancer.describe?.()).toEqual({
      ring_size: 2040,
      min_vnodes_per_endpoint: 102,
      max_vnodes_per_endpoint: 102,
    });
  });

  describe('config', () => {
    const issues = (input: object) => {
      const result = ringHash.configSchema.safeParse({ policy: 'ring_hash', ...input });
      return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    };

    it('defaults to Envoy’s ring sizes and unbounded load', () => {
      expect(ringHash.configSchema.parse({ policy: 'ring_hash' })).toEqual({ policy: 'ring_hash', minimum_ring_size: 1024, maximum_ring_size: 8_388_608 });
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

/** What the cluster reports as in flight over the upstream. */
function inFlightOver(all: readonly FakeEndpoint[]): number {
  return all.reduce((sum, endpoint) => sum + endpoint.activeRequests, 0);
}
