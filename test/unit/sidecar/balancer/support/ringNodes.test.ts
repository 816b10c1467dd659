import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingLookup, ringNodes } from '../../../../../sidecar/balancer/support/ringNodes.js';

const TWO_21 = 2 ** 21;

/** The specification the index and binary search must agree with: a linear scan. */
function naiveSlot(positions: Uint32Array, hashKey: number): number {
  const key = Math.floor(hashKey / TWO_21);
  const slot = positions.findIndex((position) => position >= key);
  return slot === -1 ? 0 : slot;
}

describe('ring nodes', () => {
  it('sorts every generated node by position, each endpoint keeping its count', () => {
    const seeds = Float64Array.from([11, 2 ** 52 + 3, 987_654_321_123, 5]);
    const counts = Uint32Array.from([1, 300, 4000, 7]);
    const { positions, owners } = ringNodes(seeds, counts);
    expect(positions.length).toBe(4308);
    for (let j = 1; j < positions.length; j++) expect(positions[j - 1] as number).toBeLessThanOrEqual(positions[j] as number);
    const perOwner = [0, 0, 0, 0];
    for (const owner of owners) perOwner[owner] = (perOwner[owner] as number) + 1;
    expect(perOwner).toEqual([1, 300, 4000, 7]);
  });

  it('keeps an endpoint’s first nodes where they were when its count grows', () => {
    const small = ringNodes(Float64Array.of(42, 43), Uint32Array.of(10, 10));
    const large = ringNodes(Float64Array.of(42, 43), Uint32Array.of(50, 10));
    const nodes = (ring: typeof small, owner: number) => new Set([...ring.positions].filter((_, j) => ring.owners[j] === owner));
    const before = nodes(small, 0);
    const after = nodes(large, 0);
    expect([...before].every((position) => after.has(position))).toBe(true);
    expect(nodes(large, 1)).toEqual(nodes(small, 1));
  });

  it('breaks position ties by generation order, so identical seeds still build one ring', () => {
    // Two endpoints with one seed collide on every node: the first-generated one (lower index) wins.
    const { owners } = ringNodes(Float64Array.of(7, 7), Uint32Array.of(64, 64));
    for (let j = 0; j < owners.length; j += 2) expect([owners[j], owners[j + 1]]).toEqual([0, 1]);
  });

  it('finds the first node at or after a key, wrapping past the last, as a linear scan does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 ** 53 - 1 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 20, maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 2 ** 53 - 1 }), { minLength: 50, maxLength: 50 }),
        (seeds, counts, keys) => {
          const { positions } = ringNodes(Float64Array.from(seeds), Uint32Array.from(counts.slice(0, seeds.length)));
          const lookup = new RingLookup(positions);
          const edges = [0, 2 ** 53 - 1, (positions[0] as number) * TWO_21, (positions.at(-1) as number) * TWO_21 + 1];
          for (const key of [...keys, ...edges]) expect(lookup.slotOf(key)).toBe(naiveSlot(positions, key));
        },
      ),
      { seed: 20261122, numRuns: 200 },
    );
  });
});
