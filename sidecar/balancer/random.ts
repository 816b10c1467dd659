import { z } from 'zod';
import { firstUntried, triedTest } from './support/choices.js';
import { OkPick, type Balancer, type BalancerEndpoint, type BalancerFactory, type BalancerHelper, type PickContext, type PickResult, type Picker } from './balancer.js';

const TYPE_NAME = 'random';

const RandomConfig = z.strictObject({ policy: z.literal(TYPE_NAME) });
type RandomConfig = z.infer<typeof RandomConfig>;

/**
 * Random, weighted: each pick chooses an endpoint with probability proportional to its effective
 * weight (binary search over cumulative weights; a plain index when all weights are equal).
 * Stateless, so it needs no coordination at all and suits very large endpoint sets.
 */
class RandomPicker<E extends BalancerEndpoint> implements Picker<E> {
  private readonly result: OkPick<E>;
  /** cumulative[i] = sum of effective weights of endpoints 0..i; undefined when all are equal. */
  private readonly cumulative: Float64Array | undefined;

  constructor(
    private readonly endpoints: readonly E[],
    private readonly random: () => number,
  ) {
    this.result = new OkPick(endpoints[0] as E);
    const first = endpoints[0]?.effectiveWeight;
    if (endpoints.every((endpoint) => endpoint.effectiveWeight === first)) return;
    this.cumulative = new Float64Array(endpoints.length);
    let sum = 0;
    for (let i = 0; i < endpoints.length; i++) this.cumulative[i] = sum += (endpoints[i] as E).effectiveWeight;
  }

  pick(ctx: PickContext): PickResult<E> {
    const { endpoints } = this;
    const index = this.draw();
    ctx.explain?.note('drawn', { endpoint: (endpoints[index] as E).id, how: this.cumulative === undefined ? 'uniformly at random' : 'at random, in proportion to effective weight' });
    if (ctx.tried.size === 0 || !ctx.tried.has((endpoints[index] as E).id)) return this.result.set(endpoints[index] as E);
    // A retry landed on a tried endpoint: take the nearest untried one instead.
    return this.result.set(endpoints[firstUntried(endpoints.length, index, triedTest(endpoints, ctx))] as E);
  }

  private draw(): number {
    const { cumulative } = this;
    if (cumulative === undefined) return Math.floor(this.random() * this.endpoints.length);
    const target = this.random() * (cumulative[cumulative.length - 1] as number);
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cumulative[middle] as number) > target) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}

class RandomBalancer<E extends BalancerEndpoint> implements Balancer<E> {
  constructor(private readonly helper: BalancerHelper<E>) {}

  update(endpoints: readonly E[]): void {
    this.helper.publish(new RandomPicker(endpoints, () => this.helper.random()));
  }

  destroy(): void {}
}

export const random: BalancerFactory<RandomConfig> = {
  name: TYPE_NAME,
  configSchema: RandomConfig,
  usesHashKey: false,
  create: (_config, helper) => new RandomBalancer(helper),
};
