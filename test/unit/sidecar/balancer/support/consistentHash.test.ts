import { describe, expect, it } from 'vitest';
import { maglev } from '../../../../../sidecar/balancer/maglev.js';
import { ringHash } from '../../../../../sidecar/balancer/ringHash.js';
import { hash53 } from '../../../../../sidecar/balancer/support/xxhash64.js';
import { recordingHelper, seededRandom, type FakeEndpoint } from '../../../../helpers/fakes.js';
import { build, endpoints, inFlightOver, NONE_TRIED, pickId, shares } from '../../../../helpers/hashing.js';

/** What ring_hash and maglev share through `ConsistentHashPicker`: bounded load, retries, keyless requests. */
describe.each([ringHash, maglev])('consistent hashing with $name', (factory) => {
  it('keeps a hot key within its bounded-load capacity, spilling forward', () => {
    const all = endpoints(10);
    const hotKey = hash53('hot-user');
    const { picker } = build(factory, all, { hash_balance_factor: 150 }, recordingHelper(seededRandom(1), () => inFlightOver(all)));
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
    const { picker } = build(factory, all);
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
    const { picker } = build(factory, all);
    const hashKey = hash53('session-42');
    const first = pickId(picker, { tried: NONE_TRIED, hashKey });
    const second = pickId(picker, { tried: new Set([first]), hashKey });
    expect(second).not.toBe(first);
    expect(pickId(picker, { tried: new Set([first]), hashKey })).toBe(second);
    expect([first, second]).not.toContain(pickId(picker, { tried: new Set([first, second]), hashKey }));
    expect(pickId(picker, { tried: new Set(all.map((endpoint) => endpoint.id)), hashKey })).toBe(first);
  });

  it('spreads requests without a hash key over the endpoints at random', () => {
    const { picker } = build(factory, endpoints(10), {}, recordingHelper(seededRandom(3)));
    const ids: string[] = [];
    for (let i = 0; i < 2000; i++) ids.push(pickId(picker, { tried: NONE_TRIED, hashKey: undefined }));
    const share = shares(ids);
    expect(share.size).toBe(10);
    for (const value of share.values()) expect(value).toBeGreaterThan(0.05);
  });
});
