import { z } from 'zod';
import type { Balancer, BalancerEndpoint, BalancerFactory, BalancerHelper } from './balancer.js';
import { balanceWeights, ConsistentHashPicker, HashBalanceFactor, mix53, sortById } from './support/consistentHash.js';
import { hash53 } from './support/xxhash64.js';

const TYPE_NAME = 'ring_hash';

/** Envoy's cap on `maximum_ring_size`. */
const MAX_RING_SIZE = 8_388_608;
/**
 * A unit of weight gets minimum_ring_size / 8 virtual nodes, so from eight unit-weight endpoints up
 * the per-unit count no longer depends on how many endpoints there are (see `buildRing`).
 */
const STABLE_MEMBERSHIP = 8;

const RingHashConfig = z
  .strictObject({
    policy: z.literal(TYPE_NAME),
    minimum_ring_size: z.int().min(1).default(1024),
    maximum_ring_size: z.int().min(1).max(MAX_RING_SIZE).default(MAX_RING_SIZE),
    hash_balance_factor: HashBalanceFactor,
  })
  .refine((config) => config.maximum_ring_size >= config.minimum_ring_size, {
    path: ['maximum_ring_size'],
    message: 'must be at least minimum_ring_size',
  });
type RingHashConfig = z.infer<typeof RingHashConfig>;

interface Ring {
  /** Virtual node positions, ascending. */
  readonly positions: Float64Array;
  /** The endpoint index of each position. */
  readonly owners: Int32Array;
  readonly minVnodes: number;
  readonly maxVnodes: number;
}

/**
 * Envoy sizes the ring to minimum_ring_size and divides it among the hosts (n equal hosts get about
 * minimum_ring_size / n nodes each), so a new host takes nodes away from every old one and keys move
 * between old hosts. Here a unit of relative weight gets a fixed V = ceil(minimum_ring_size / 8)
 * nodes instead: adding or removing an endpoint adds or removes only its own nodes. V is raised only when the total relative weight W is too small to reach the minimum size,
 * and lowered (possibly below 1 per unit) only when V · W would pass the maximum. Relative weight is
 * the effective weight over the smallest base weight, so discovery weights 100, 100, … act as 1, 1, …
 * and a slow-starting endpoint owns proportionally fewer nodes. Node k of endpoint `id` sits at
 * mix53(hash53(id), k), so an endpoint's nodes never move while it keeps at least k + 1 of them.
 */
function buildRing(endpoints: readonly BalancerEndpoint[], weights: Float64Array, minimum: number, maximum: number): Ring {
  const base = endpoints.reduce((least, endpoint) => Math.min(least, endpoint.weight), Infinity);
  const relative = weights.map((weight) => weight / base);
  const total = relative.reduce((sum, weight) => sum + weight, 0);
  let perUnit = Math.ceil(minimum / STABLE_MEMBERSHIP);
  if (perUnit * total < minimum) perUnit = Math.ceil(minimum / total);
  if (perUnit * total > maximum) perUnit = maximum / total;
  const counts = Uint32Array.from(relative, (weight) => Math.max(1, Math.round(perUnit * weight)));
  const size = counts.reduce((sum, count) => sum + count, 0);
  const bases = Float64Array.from(endpoints, (endpoint) => hash53(endpoint.id));
  const { positions, owners } = sortedNodes(bases, counts, size);
  return { positions, owners, minVnodes: counts.reduce((a, b) => Math.min(a, b)), maxVnodes: counts.reduce((a, b) => Math.max(a, b)) };
}

const TWO_45 = 2 ** 45;
const TOP_BUCKETS = 256;
const SUB_BUCKETS = 4096;

/**
 * The ring's nodes, sorted by position, each with its owner. A ring can hold millions of nodes, where
 * a comparison sort or one large counting pass spends its time in cache misses, so this is a
 * two-level most-significant-digit bucket sort: 256 buckets on the top 8 bits, then, bucket by bucket
 * while it sits in cache, 4096 sub-buckets on the next 12 bits and an insertion sort over what little
 * is left. Positions cost a few multiplies (`mix53`), so they are computed twice — once to size the
 * top buckets, once to write each node straight into its bucket — rather than stored and re-read.
 * Hash positions are uniform, so the whole is linear. Stable: equal positions keep id order.
 */
function sortedNodes(bases: Float64Array, counts: Uint32Array, size: number): { positions: Float64Array; owners: Int32Array } {
  const top = new Uint32Array(TOP_BUCKETS + 1);
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i] as number;
    for (let k = 0; k < (counts[i] as number); k++) {
      const bucket = Math.floor(mix53(base, k) / TWO_45) + 1;
      top[bucket] = (top[bucket] as number) + 1;
    }
  }
  for (let bucket = 1; bucket <= TOP_BUCKETS; bucket++) top[bucket] = (top[bucket] as number) + (top[bucket - 1] as number);
  const scratch = new Float64Array(size);
  const scratchOwners = new Int32Array(size);
  const cursor = top.slice(0, TOP_BUCKETS);
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i] as number;
    for (let k = 0; k < (counts[i] as number); k++) {
      const position = mix53(base, k);
      const bucket = Math.floor(position / TWO_45);
      const at = cursor[bucket] as number;
      cursor[bucket] = at + 1;
      scratch[at] = position;
      scratchOwners[at] = i;
    }
  }
  const positions = new Float64Array(size);
  const owners = new Int32Array(size);
  const sub = new Uint32Array(SUB_BUCKETS + 1);
  const width = TWO_45 / SUB_BUCKETS;
  for (let bucket = 0; bucket < TOP_BUCKETS; bucket++) {
    const start = top[bucket] as number;
    const end = top[bucket + 1] as number;
    const floor = bucket * TWO_45;
    sub.fill(0);
    for (let i = start; i < end; i++) {
      const slot = Math.floor(((scratch[i] as number) - floor) / width) + 1;
      sub[slot] = (sub[slot] as number) + 1;
    }
    for (let slot = 1; slot <= SUB_BUCKETS; slot++) sub[slot] = (sub[slot] as number) + (sub[slot - 1] as number);
    for (let i = start; i < end; i++) {
      const position = scratch[i] as number;
      const slot = Math.floor((position - floor) / width);
      const at = start + (sub[slot] as number);
      sub[slot] = (sub[slot] as number) + 1;
      positions[at] = position;
      owners[at] = scratchOwners[i] as number;
    }
    for (let j = start + 1; j < end; j++) {
      const position = positions[j] as number;
      const owner = owners[j] as number;
      let k = j;
      for (; k > start && (positions[k - 1] as number) > position; k--) {
        positions[k] = positions[k - 1] as number;
        owners[k] = owners[k - 1] as number;
      }
      positions[k] = position;
      owners[k] = owner;
    }
  }
  return { positions, owners };
}

/** Index of the first position ≥ `key`; `positions.length` when there is none. */
function firstAtOrAfter(positions: Float64Array, key: number): number {
  let low = 0;
  let high = positions.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((positions[middle] as number) < key) low = middle + 1;
    else high = middle;
  }
  return low;
}

class RingHashBalancer<E extends BalancerEndpoint> implements Balancer<E> {
  private described: Readonly<Record<string, number>> | undefined;

  constructor(
    private readonly config: RingHashConfig,
    private readonly helper: BalancerHelper<E>,
  ) {}

  update(endpoints: readonly E[]): void {
    const sorted = sortById(endpoints);
    const weights = balanceWeights(sorted);
    const { positions, owners, minVnodes, maxVnodes } = buildRing(sorted, weights, this.config.minimum_ring_size, this.config.maximum_ring_size);
    this.described = { ring_size: positions.length, min_vnodes_per_endpoint: minVnodes, max_vnodes_per_endpoint: maxVnodes };
    const slotOf = (hashKey: number): number => {
      const slot = firstAtOrAfter(positions, hashKey);
      return slot === positions.length ? 0 : slot; // past the last node the ring wraps to the first
    };
    this.helper.publish(
      new ConsistentHashPicker(sorted, owners, slotOf, () => this.helper.random(), weights, this.config.hash_balance_factor, () =>
        this.helper.totalActiveRequests(),
      ),
    );
  }

  destroy(): void {}

  describe(): Readonly<Record<string, unknown>> | undefined {
    return this.described;
  }
}

export const ringHash: BalancerFactory<RingHashConfig> = {
  name: TYPE_NAME,
  configSchema: RingHashConfig,
  usesHashKey: true,
  create: (config, helper) => new RingHashBalancer(config, helper),
};
