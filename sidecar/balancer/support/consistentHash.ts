import { z } from 'zod';
import { OkPick, type BalancerEndpoint, type PickContext, type PickExplanation, type PickResult, type Picker } from '../balancer.js';

/** What ring_hash and maglev share: endpoint order, weights, bounded load and the slot walk. */

const TWO_53 = 2 ** 53;

/** Envoy's `hash_balance_factor`: percent of the average load an endpoint may carry; unset = unbounded. */
export const HashBalanceFactor = z.int().min(100).optional();


/** Endpoints in id order, so that discovery order never changes a table or a tie. */
export function sortById<E extends BalancerEndpoint>(endpoints: readonly E[]): E[] {
  return [...endpoints].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Effective weights, or base weights in the moment when every endpoint is at the very start of a
 * slow-start window with a zero minimum (all effective weights 0 would leave nothing to divide by).
 */
export function balanceWeights(endpoints: readonly BalancerEndpoint[]): Float64Array {
  const effective = Float64Array.from(endpoints, (endpoint) => endpoint.effectiveWeight);
  return effective.some((weight) => weight > 0) ? effective : Float64Array.from(endpoints, (endpoint) => endpoint.weight);
}

/**
 * Picks along a consistent-hash sequence of slots (a ring's sorted virtual nodes, a Maglev table),
 * each holding an endpoint index. Without bounded load and retries a pick is one lookup. Otherwise it
 * walks forward from the hashed slot, judging each endpoint once, at its first slot, to the first one
 * that is untried and under capacity. Capacity follows "Consistent Hashing with Bounded Loads"
 * (Mirrokni, Thorup, Zadimoghaddam, 2016) as Envoy's `hash_balance_factor` does:
 * ceil(c · (A + 1) · w_i / W), A being the requests in flight over the whole upstream (kept by the
 * cluster, so a pick stays O(walk) instead of O(endpoints)). The capacities sum to at least A + 1, so
 * some endpoint always has room.
 */
export class ConsistentHashPicker<E extends BalancerEndpoint> implements Picker<E> {
  private readonly result: OkPick<E>;
  private readonly totalWeight: number;
  /** The walk that last judged each endpoint; a counter instead of a set so walks allocate nothing. */
  private readonly judged: Uint32Array;
  private walkId = 0;

  constructor(
    private readonly endpoints: readonly E[],
    private readonly slots: Int32Array,
    private readonly slotOf: (hashKey: number) => number,
    private readonly random: () => number,
    private readonly weights: Float64Array,
    private readonly balanceFactor: number | undefined,
    private readonly totalActiveRequests: () => number,
  ) {
    this.result = new OkPick(endpoints[0] as E);
    this.totalWeight = weights.reduce((sum, weight) => sum + weight, 0);
    this.judged = new Uint32Array(endpoints.length);
  }

  pick(ctx: PickContext): PickResult<E> {
    // A request without a key lands anywhere; the cluster counts it as a miss.
    const start = this.slotOf(ctx.hashKey ?? Math.floor(this.random() * TWO_53));
    const hashed = this.endpoints[this.slots[start] as number] as E;
    ctx.explain?.note('landed', { hash_key: ctx.hashKey ?? null, slot: start, slots: this.slots.length, endpoint: hashed.id });
    if (this.balanceFactor === undefined && (ctx.tried.size === 0 || !ctx.tried.has(hashed.id))) return this.result.set(hashed);
    return this.result.set(this.walk(start, hashed, ctx.tried, ctx.explain));
  }

  /**
   * Failing an endpoint that is both untried and under capacity, prefers an untried one over its
   * capacity (sending a retry back to the endpoint that just failed it is worse than a little extra
   * load), then a tried one under capacity, then the hashed one.
   */
  private walk(start: number, hashed: E, tried: ReadonlySet<string>, explain: PickExplanation | undefined): E {
    const factor = this.balanceFactor;
    const active = factor === undefined ? 0 : this.totalActiveRequests();
    const walk = this.nextWalk();
    const size = this.slots.length;
    let untriedOver: E | undefined;
    let triedUnder: E | undefined;
    for (let step = 0, slot = start, seen = 0; step < size && seen < this.endpoints.length; step++, slot = slot + 1 === size ? 0 : slot + 1) {
      const index = this.slots[slot] as number;
      if (this.judged[index] === walk) continue;
      this.judged[index] = walk;
      seen++;
      const endpoint = this.endpoints[index] as E;
      const under = factor === undefined || endpoint.activeRequests + 1 <= this.capacity(factor, index, active);
      const untried = tried.size === 0 || !tried.has(endpoint.id);
      if (explain !== undefined) explain.considered(endpoint, this.walkFacts(index, active, untried, under));
      if (untried && under) return endpoint;
      if (untried) untriedOver ??= endpoint;
      else if (under) triedUnder ??= endpoint;
    }
    return untriedOver ?? triedUnder ?? hashed;
  }

  /** The requests endpoint `index` may carry, with `active` in flight over the upstream. */
  private capacity(factor: number, index: number, active: number): number {
    // One division of exact integers (for integer weights), so ceil sees no rounding noise.
    return Math.ceil((factor * (active + 1) * (this.weights[index] as number)) / (100 * this.totalWeight));
  }

  /** What the walk judged an endpoint by, for an explanation. */
  private walkFacts(index: number, active: number, untried: boolean, under: boolean): Readonly<Record<string, unknown>> {
    const factor = this.balanceFactor;
    const capacity = factor === undefined ? null : this.capacity(factor, index, active);
    return { active_requests: (this.endpoints[index] as E).activeRequests, capacity, tried: !untried, under_capacity: under };
  }

  private nextWalk(): number {
    if (this.walkId === 0xffff_ffff) {
      this.judged.fill(0);
      this.walkId = 0;
    }
    return ++this.walkId;
  }
}
