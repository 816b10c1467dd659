import { z } from 'zod';
import { firstUntried, triedTest } from './support/choices.js';
import { EdfScheduler } from './support/edf.js';
import { OkPick, type Balancer, type BalancerEndpoint, type BalancerFactory, type BalancerHelper, type PickContext, type PickResult, type Picker } from './balancer.js';

const TYPE_NAME = 'round_robin';

const RoundRobinConfig = z.strictObject({ policy: z.literal(TYPE_NAME) });
type RoundRobinConfig = z.infer<typeof RoundRobinConfig>;

/**
 * Round robin. With equal weights it is a plain rotating cursor, O(1) per pick, from a random start so
 * that many sidecars do not all begin on the same endpoint after a change. With unequal weights it is
 * earliest-deadline-first over the effective weights, as Envoy's weighted round robin: each endpoint
 * is picked in proportion to its weight and smoothly interleaved (5:1:1 gives a a b a c a a, not
 * bursts), at O(log n) per pick.
 */
class RoundRobinPicker<E extends BalancerEndpoint> implements Picker<E> {
  private readonly endpoints: readonly E[];
  private readonly edf: EdfScheduler | undefined;
  private readonly weights: Float64Array;
  private readonly result: OkPick<E>;
  private cursor: number;

  constructor(endpoints: readonly E[], random: () => number) {
    this.endpoints = endpoints;
    this.result = new OkPick(endpoints[0] as E);
    this.cursor = Math.floor(random() * endpoints.length);
    this.weights = Float64Array.from(endpoints, (endpoint) => endpoint.effectiveWeight);
    const first = this.weights[0];
    this.edf = this.weights.every((weight) => weight === first) ? undefined : new EdfScheduler(this.weights, random);
  }

  pick(ctx: PickContext): PickResult<E> {
    const { endpoints } = this;
    const index = this.next();
    ctx.explain?.note('turn', { endpoint: (endpoints[index] as E).id, how: this.edf === undefined ? 'next in rotation' : 'earliest deadline first over effective weights' });
    if (ctx.tried.size === 0 || !ctx.tried.has((endpoints[index] as E).id)) return this.result.set(endpoints[index] as E);
    // A retry: the nearest endpoint after this one that the request has not tried yet.
    return this.result.set(endpoints[firstUntried(endpoints.length, index, triedTest(endpoints, ctx))] as E);
  }

  private next(): number {
    const edf = this.edf;
    if (edf !== undefined) {
      const index = edf.next();
      edf.advance(index);
      return index;
    }
    const index = this.cursor;
    this.cursor = index + 1 === this.endpoints.length ? 0 : index + 1;
    return index;
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
