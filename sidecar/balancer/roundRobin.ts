import { z } from 'zod';
import { OkPick, type Balancer, type BalancerEndpoint, type BalancerFactory, type BalancerHelper, type PickContext, type PickResult, type Picker } from './balancer.js';

const TYPE_NAME = 'round_robin';

const RoundRobinConfig = z.strictObject({ policy: z.literal(TYPE_NAME) });
type RoundRobinConfig = z.infer<typeof RoundRobinConfig>;

/**
 * Round robin. With equal weights it is a plain rotating cursor, O(1) per pick. With unequal weights
 * it is nginx's smooth weighted round robin: each pick adds every endpoint's weight to its running
 * score, takes the highest and subtracts the total from it, which interleaves endpoints (5:1:1 gives
 * a a b a c a a) instead of sending bursts. Each picker starts at a random offset so that many
 * sidecars do not all begin on the same endpoint after a change.
 */
class RoundRobinPicker<E extends BalancerEndpoint> implements Picker<E> {
  private readonly endpoints: readonly E[];
  private readonly weighted: boolean;
  private readonly scores: Float64Array;
  private readonly weights: Float64Array;
  private readonly totalWeight: number;
  private readonly result: OkPick<E>;
  private cursor: number;

  constructor(endpoints: readonly E[], random: () => number) {
    this.endpoints = endpoints;
    this.result = new OkPick(endpoints[0] as E);
    this.cursor = Math.floor(random() * endpoints.length);
    const first = endpoints[0]?.effectiveWeight;
    this.weighted = endpoints.some((endpoint) => endpoint.effectiveWeight !== first);
    this.weights = Float64Array.from(endpoints, (endpoint) => endpoint.effectiveWeight);
    this.scores = new Float64Array(this.weighted ? endpoints.length : 0);
    this.totalWeight = this.weights.reduce((sum, weight) => sum + weight, 0);
    if (this.weighted) {
      // A random phase per endpoint plays the role of the random start offset.
      for (let i = 0; i < endpoints.length; i++) this.scores[i] = random() * (this.weights[i] as number);
    }
  }

  pick(ctx: PickContext): PickResult<E> {
    let endpoint = this.next();
    if (ctx.tried.size > 0 && this.endpoints.length > 1) {
      // Prefer an endpoint this request has not used yet; give up after one full turn.
      for (let turn = 1; ctx.tried.has(endpoint.id) && turn < this.endpoints.length; turn++) endpoint = this.next();
    }
    return this.result.set(endpoint);
  }

  private next(): E {
    if (!this.weighted) {
      const endpoint = this.endpoints[this.cursor] as E;
      this.cursor = this.cursor + 1 === this.endpoints.length ? 0 : this.cursor + 1;
      return endpoint;
    }
    let best = 0;
    for (let i = 0; i < this.endpoints.length; i++) {
      const score = (this.scores[i] as number) + (this.weights[i] as number);
      this.scores[i] = score;
      if (score > (this.scores[best] as number)) best = i;
    }
    this.scores[best] = (this.scores[best] as number) - this.totalWeight;
    return this.endpoints[best] as E;
  }
}

class RoundRobinBalancer<E extends BalancerEndpoint> implements Balancer<E> {
  constructor(private readonly helper: BalancerHelper<E>) {}

  update(endpoints: readonly E[]): void {
    this.helper.publish(new RoundRobinPicker(endpoints, () => this.helper.random()));
  }

  destroy(): void {}
}

export const roundRobin: BalancerFactory<RoundRobinConfig> = {
  name: TYPE_NAME,
  configSchema: RoundRobinConfig,
  usesHashKey: false,
  create: (_config, helper) => new RoundRobinBalancer(helper),
};
