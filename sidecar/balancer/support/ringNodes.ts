/**
 * A hash ring's virtual nodes, built and searched. Positions are 32-bit: a ring holds at most 2^23
 * nodes, whose 32-bit positions collide a few hundred times at worst (a tie goes to the node generated
 * first, so the ring stays deterministic), and half-size positions halve the memory a build writes
 * and a lookup reads — a build of a million nodes is memory-bound.
 */

const TWO_21 = 2 ** 21;
const TWO_32 = 2 ** 32;
/** The first sort level buckets on the top 11 bits of a position, the second on the next 11. */
const LEVEL_BITS = 11;
const LEVEL_BUCKETS = 1 << LEVEL_BITS;
/** Buckets this small are insertion-sorted at once; a second counting pass would cost more. */
const INSERTION_SORT_MAX = 32;
/** Index buckets target about four nodes each, up to 2^16 buckets (256 KiB). */
const MAX_INDEX_BITS = 16;

export interface RingNodes {
  /** Node positions, ascending. */
  readonly positions: Uint32Array;
  /** The endpoint index of each node. */
  readonly owners: Int32Array;
}

/**
 * Node k of the endpoint whose id hashes to `seed` (a 53-bit xxHash64 prefix) sits at a position
 * mixed from both halves of the seed and k by two MurmurHash3 finalizers: an endpoint's nodes never
 * move while it keeps at least k + 1 of them, and a ring costs one string hash per endpoint.
 */
function nodePosition(seedLow: number, seedHigh: number, k: number): number {
  return fmix32(seedLow ^ fmix32(seedHigh ^ Math.imul(k + 1, 0x9e3779b1)));
}

/**
 * The nodes of endpoints 0..n-1 (`counts[i]` nodes for endpoint i), sorted by position. Positions
 * are uniform, so a two-level most-significant-digit counting sort is linear: 2048 buckets on the top
 * 11 bits (few enough write streams to stay in cache), then bucket by bucket, in a scratch copy that
 * stays in cache, sub-buckets on the next bits (about two nodes each) and an insertion sort over what
 * little is left. A build of a million nodes is bound by writing memory, not by hashing: positions are
 * computed twice (once to size the buckets, once to write each node straight into its bucket) so
 * that the ring's two arrays are the only large ones written. Both passes are stable and nodes are
 * generated in endpoint then k order, which decides ties.
 */
export function ringNodes(seeds: Float64Array, counts: Uint32Array): RingNodes {
  const size = counts.reduce((sum, count) => sum + count, 0);
  const top = new Uint32Array(LEVEL_BUCKETS + 1);
  forEachNode(seeds, counts, (position) => {
    const bucket = (position >>> (32 - LEVEL_BITS)) + 1;
    top[bucket] = (top[bucket] as number) + 1;
  });
  let largest = 0;
  for (let bucket = 1; bucket <= LEVEL_BUCKETS; bucket++) {
    largest = Math.max(largest, top[bucket] as number);
    top[bucket] = (top[bucket] as number) + (top[bucket - 1] as number);
  }

  const positions = new Uint32Array(size);
  const owners = new Int32Array(size);
  const cursor = top.slice(0, LEVEL_BUCKETS);
  forEachNode(seeds, counts, (position, owner) => {
    const bucket = position >>> (32 - LEVEL_BITS);
    const at = cursor[bucket] as number;
    cursor[bucket] = at + 1;
    positions[at] = position;
    owners[at] = owner;
  });

  const scratch = new Uint32Array(largest);
  const scratchOwners = new Int32Array(largest);
  const sub = new Uint32Array(LEVEL_BUCKETS + 1);
  for (let bucket = 0; bucket < LEVEL_BUCKETS; bucket++) {
    const start = top[bucket] as number;
    const end = top[bucket + 1] as number;
    const length = end - start;
    if (length > INSERTION_SORT_MAX) {
      scratch.set(positions.subarray(start, end));
      scratchOwners.set(owners.subarray(start, end));
      const bits = Math.min(LEVEL_BITS, Math.ceil(Math.log2(length / 2)));
      const shift = 32 - LEVEL_BITS - bits;
      const mask = (1 << bits) - 1;
      sub.fill(0, 0, mask + 2);
      for (let j = 0; j < length; j++) {
        const slot = (((scratch[j] as number) >>> shift) & mask) + 1;
        sub[slot] = (sub[slot] as number) + 1;
      }
      for (let slot = 1; slot <= mask; slot++) sub[slot] = (sub[slot] as number) + (sub[slot - 1] as number);
      for (let j = 0; j < length; j++) {
        const position = scratch[j] as number;
        const slot = (position >>> shift) & mask;
        const at = start + (sub[slot] as number);
        sub[slot] = (sub[slot] as number) + 1;
        positions[at] = position;
        owners[at] = scratchOwners[j] as number;
      }
    }
    insertionSort(positions, owners, start, end);
  }
  return { positions, owners };
}

/** Calls `visit` with each node's position and owner, in endpoint then k order. */
function forEachNode(seeds: Float64Array, counts: Uint32Array, visit: (position: number, owner: number) => void): void {
  for (let i = 0; i < seeds.length; i++) {
    const seed = seeds[i] as number;
    const low = seed >>> 0; // ToUint32 is exact modulo 2^32 below 2^53, and cheaper than `%` on a double
    const high = (seed - low) / TWO_32;
    for (let k = 0, count = counts[i] as number; k < count; k++) visit(nodePosition(low, high, k), i);
  }
}

/** Sorts [start, end) by position, stably; nearly sorted input costs one comparison a node. */
function insertionSort(positions: Uint32Array, owners: Int32Array, start: number, end: number): void {
  for (let j = start + 1; j < end; j++) {
    const position = positions[j] as number;
    if ((positions[j - 1] as number) <= position) continue;
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

/**
 * Finds a key's node: the first at or after the key's position, wrapping past the last to the first.
 * An index over the top bits of positions narrows the binary search to a few neighbouring nodes, so
 * a lookup in a million-node ring reads two or three cache lines instead of twenty.
 */
export class RingLookup {
  private readonly shift: number;
  /** starts[b]: the first node whose top bits are ≥ b; starts[buckets] = the node count. */
  private readonly starts: Uint32Array;

  constructor(private readonly positions: Uint32Array) {
    const bits = Math.min(MAX_INDEX_BITS, Math.max(1, Math.floor(Math.log2(positions.length / 4))));
    const buckets = 1 << bits;
    this.shift = 32 - bits;
    this.starts = new Uint32Array(buckets + 1);
    for (let bucket = 0, j = 0; bucket <= buckets; bucket++) {
      while (j < positions.length && (positions[j] as number) >>> this.shift < bucket) j++;
      this.starts[bucket] = j;
    }
  }

  /** The node for a 53-bit hash key, compared by its top 32 bits. */
  slotOf(hashKey: number): number {
    const key = Math.floor(hashKey / TWO_21);
    const bucket = key >>> this.shift;
    let low = this.starts[bucket] as number;
    let high = this.starts[bucket + 1] as number;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.positions[middle] as number) < key) low = middle + 1;
      else high = middle;
    }
    return low === this.positions.length ? 0 : low;
  }
}

/** MurmurHash3's 32-bit finalizer: a bijection on 32 bits with full avalanche. */
function fmix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
