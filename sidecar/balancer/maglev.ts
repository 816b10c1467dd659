import { z } from 'zod';
import type { Balancer, BalancerEndpoint, BalancerFactory, BalancerHelper } from './balancer.js';
import { balanceWeights, ConsistentHashPicker, HashBalanceFactor, sortById } from './support/consistentHash.js';
import { hash53 } from './support/xxhash64.js';

const TYPE_NAME = 'maglev';

/** Envoy's default and cap for `table_size`. */
const DEFAULT_TABLE_SIZE = 65_537;
const MAX_TABLE_SIZE = 5_000_011;

const MaglevConfig = z.strictObject({
  policy: z.literal(TYPE_NAME),
  table_size: z
    .int()
    .max(MAX_TABLE_SIZE, { abort: true }) // keeps the primality test below short
    // Every skip in 1..M−1 must be coprime with M for each permutation to reach every slot.
    .refine(isPrime, 'must be a prime number')
    .default(DEFAULT_TABLE_SIZE),
  hash_balance_factor: HashBalanceFactor,
});
type MaglevConfig = z.infer<typeof MaglevConfig>;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let divisor = 2; divisor * divisor <= n; divisor++) if (n % divisor === 0) return false;
  return true;
}

/**
 * Fills a Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, §3.4, Algorithm 1). Endpoint i prefers slots in the order of its permutation
 * (offset + j · skip) mod M, with offset = h1(id) mod M and skip = h2(id) mod (M − 1) + 1; in turns,
 * each endpoint takes its next preferred slot that is still free, until the table is full. Weights
 * as Envoy does them: an endpoint takes a turn in round t only while its slots trail t · w_i / w_max,
 * so the heaviest takes one every round and one a third as heavy every third round.
 */
function buildTable(endpoints: readonly BalancerEndpoint[], weights: Float64Array, size: number): Int32Array {
  const count = endpoints.length;
  const next = new Float64Array(count);
  const skip = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const id = (endpoints[i] as BalancerEndpoint).id;
    next[i] = hash53(id, 0) % size;
    skip[i] = (hash53(id, 1) % (size - 1)) + 1;
  }
  const heaviest = weights.reduce((most, weight) => Math.max(most, weight), 0);
  const taken = new Float64Array(count);
  const table = new Int32Array(size).fill(-1);
  for (let round = 0, filled = 0; filled < size; round++) {
    for (let i = 0; i < count && filled < size; i++) {
      if (round * (weights[i] as number) < (taken[i] as number) * heaviest) continue;
      const step = skip[i] as number;
      let slot = next[i] as number;
      while (table[slot] !== -1) slot = slot + step >= size ? slot + step - size : slot + step;
      table[slot] = i;
      taken[i] = (taken[i] as number) + 1;
      filled++;
      next[i] = slot + step >= size ? slot + step - size : slot + step;
    }
  }
  return table;
}

class MaglevBalancer<E extends BalancerEndpoint> implements Balancer<E> {
  constructor(
    private readonly config: MaglevConfig,
    private readonly helper: BalancerHelper<E>,
  ) {}

  update(endpoints: readonly E[]): void {
    const size = this.config.table_size;
    const sorted = sortById(endpoints);
    const weights = balanceWeights(sorted);
    const table = buildTable(sorted, weights, size);
    this.helper.publish(
      new ConsistentHashPicker(sorted, table, (hashKey) => hashKey % size, () => this.helper.random(), weights, this.config.hash_balance_factor, () =>
        this.helper.totalActiveRequests(),
      ),
    );
  }

  destroy(): void {}

  describe(): Readonly<Record<string, unknown>> {
    return { table_size: this.config.table_size };
  }
}

export const maglev: BalancerFactory<MaglevConfig> = {
  name: TYPE_NAME,
  configSchema: MaglevConfig,
  usesHashKey: true,
  create: (config, helper) => new MaglevBalancer(config, helper),
};
