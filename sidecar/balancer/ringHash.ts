import { z } from 'zod';
import type { Balancer, BalancerEndpoint, BalancerFactory, BalancerHelper } from './balancer.js';
import { balanceWeights, ConsistentHashPicker, HashBalanceFactor, sortById } from './support/consistentHash.js';
import { RingLookup, ringNodes, type RingNodes } from './support/ringNodes.js';
import { hash53 } from './support/xxhash64.js';

const TYPE_NAME = 'ring_hash';

/** Envoy's cap on `maximum_ring_size`, and its default. */
const MAX_RING_SIZE = 8_388_608;
/**
 * Tandem's default `maximum_ring_size`: 2^20 nodes (12 MiB of ring) build in ~65 ms on a 2-core VM,
 * where Envoy's default of 8 M would take ~0.5 s of event loop on every endpoint change. Envoy never
 * reaches such rings by default because it shares `minimum_ring_size` among the hosts; Tandem gives
 * each unit of weight its own nodes (see `buildRing`), so the cap is what bounds a large upstream.
 */
const DEFAULT_MAX_RING_SIZE = 1_048_576;
/**
 * A unit of weight gets minimum_ring_size / 8 virtual nodes, so from eight unit-weight endpoints up
 * the per-unit count no longer depends on how many endpoints there are (see `buildRing`).
 */
const STABLE_MEMBERSHIP = 8;

const RingHashConfig = z
  .strictObject({
    policy: z.literal(TYPE_NAME),
    minimum_ring_size: z.int().min(1).default(1024),
    maximum_ring_size: z.int().min(1).max(MAX_RING_SIZE).default(DEFAULT_MAX_RING_SIZE),
    hash_balance_factor: HashBalanceFactor,
  })
  .refine((config) => config.maximum_ring_size >= config.minimum_ring_size, {
    path: ['maximum_ring_size'],
    message: 'must be at least minimum_ring_size',
  });
type RingHashConfig = z.infer<typeof RingHashConfig>;

interface Ring extends RingNodes {
  readonly minVnodes: number;
  readonly maxVnodes: number;
}

/**
 * Envoy sizes the ring to minimum_ring_size and divides it among the hosts (n equal hosts get about
 * minimum_ring_size / n nodes each), so a new host takes nodes away from every old one and keys move
 * between old hosts. Here a unit of relative weight gets a fixed V = ceil(minimum_ring_size / 8)
 * nodes instead: adding or removing an endpoint adds or removes only its own nodes. V is raised only
 * when the total relative weight W is too small to reach the minimum size, and lowered (possibly
 * below 1 per unit, each endpoint keeping at least one node) only when V · W would pass the maximum;
 * at the cap every change to W moves V, and keys move between old endpoints as they do in Envoy
 * (about as many as move onto or off the changed endpoint). Relative weight is
 * the effective weight over the smallest base weight, so discovery weights 100, 100, … act as 1, 1, …
 * and a slow-starting endpoint owns proportionally fewer nodes. Where each node sits: `ringNodes`.
 */
function buildRing(endpoints: readonly BalancerEndpoint[], weights: Float64Array, minimum: number, maximum: number): Ring {
  const base = endpoints.reduce((least, endpoint) => Math.min(least, endpoint.weight), Infinity);
  const relative = weights.map((weight) => weight / base);
  const total = relative.reduce((sum, weight) => sum + weight, 0);
  let perUnit = Math.ceil(minimum / STABLE_MEMBERSHIP);
  if (perUnit * total < minimum) perUnit = Math.ceil(minimum / total);
  // Rounding down at the cap keeps the ring within the maximum (bar the one node every endpoint keeps).
  const capped = perUnit * total > maximum;
  if (capped) perUnit = maximum / total;
  const nodesFor = capped ? Math.floor : Math.round;
  const counts = Uint32Array.from(relative, (weight) => Math.max(1, nodesFor(perUnit * weight)));
  const { positions, owners } = ringNodes(Float64Array.from(endpoints, (endpoint) => hash53(endpoint.id)), counts);
  return { positions, owners, minVnodes: counts.reduce((a, b) => Math.min(a, b)), maxVnodes: counts.reduce((a, b) => Math.max(a, b)) };
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
    const lookup = new RingLookup(positions);
    const slotOf = (hashKey: number): number => lookup.slotOf(hashKey);
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
