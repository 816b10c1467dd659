import { z } from 'zod';
import {
  OkPick,
  type Balancer,
  type BalancerEndpoint,
  type BalancerFactory,
  type BalancerHelper,
  type PickContext,
  type PickExplanation,
  type PickResult,
  type Picker,
} from './balancer.js';
import { drawCandidates, explainCandidates, firstUntried, triedTest } from './support/choices.js';
import { EdfScheduler } from './support/edf.js';

const TYPE_NAME = 'least_request';

const LeastRequestConfig = z.strictObject({
  policy: z.literal(TYPE_NAME),
  /** Endpoints compared per pick (Envoy's default and minimum: 2). */
  choice_count: z.number().int().min(2).max(100).default(2),
  /**
   * With unequal weights, how strongly in-flight requests reduce an endpoint's weight:
   * effective = weight / (active + 1) ^ bias. 0 ignores load (weighted round robin); Envoy's default 1.
   */
  active_request_bias: z.number().min(0).max(100).default(1),
});
type LeastRequestConfig = z.infer<typeof LeastRequestConfig>;

/**
 * Least request, Envoy's semantics. With equal weights: power of `choice_count` choices over the
 * requests in flight (streams, not connections) — draw that many distinct endpoints at random and
 * take the one with the fewest active requests. With unequal weights (discovery weights, or an
 * endpoint in slow start): earliest-deadline-first over weight / (active + 1) ^ active_request_bias,
 * recomputed for the picked endpoint at every pick, so equally loaded endpoints get traffic in
 * proportion to their weights and loaded ones get less.
 */
class LeastRequestPicker<E extends BalancerEndpoint> implements Picker<E> {
  private readonly result: OkPick<E>;
  private readonly candidates: Int32Array;
  private readonly edf: EdfScheduler | undefined;
  private readonly weights: Float64Array;

  constructor(
    private readonly endpoints: readonly E[],
    private readonly config: LeastRequestConfig,
    private readonly random: () => number,
  ) {
    this.result = new OkPick(endpoints[0] as E);
    this.candidates = new Int32Array(config.choice_count);
    this.weights = Float64Array.from(endpoints, (endpoint) => endpoint.effectiveWeight);
    const first = this.weights[0];
    const equal = this.weights.every((weight) => weight === first);
    this.edf = equal ? undefined : new EdfScheduler(this.weights, random);
  }

  pick(ctx: PickContext): PickResult<E> {
    const index =
      this.edf === undefined ? this.leastOfChoices(ctx.tried.size === 0 ? undefined : triedTest(this.endpoints, ctx), ctx.explain) : this.earliestDeadline(ctx);
    return this.result.set(this.endpoints[index] as E);
  }

  /** Kept apart from `pick` so the closure (and its context) exists only on retries, not on every pick. */
  private leastOfChoices(isTried: ((index: number) => boolean) | undefined, explain: PickExplanation | undefined): number {
    const { endpoints, candidates } = this;
    const drawn = drawCandidates(endpoints.length, this.config.choice_count, this.random, candidates, isTried);
    if (explain !== undefined) explainCandidates(explain, endpoints, candidates, drawn, isTried, (endpoint) => ({ active_requests: endpoint.activeRequests }));
    let best = candidates[0] as number;
    for (let i = 1; i < drawn; i++) {
      const candidate = candidates[i] as number;
      // An endpoint not yet tried beats one that was; otherwise fewer requests in flight wins.
      const triedBest = isTried?.(best) === true;
      const triedCandidate = isTried?.(candidate) === true;
      if (triedBest !== triedCandidate ? triedBest : (endpoints[candidate] as E).activeRequests < (endpoints[best] as E).activeRequests) {
        best = candidate;
      }
    }
    return isTried?.(best) === true ? firstUntried(endpoints.length, best, isTried) : best;
  }

  private earliestDeadline(ctx: PickContext): number {
    const { endpoints } = this;
    const edf = this.edf as EdfScheduler;
    const index = edf.next();
    const active = (endpoints[index] as E).activeRequests;
    const bias = this.config.active_request_bias;
    const weight = this.weights[index] as number;
    ctx.explain?.note('scheduled', { endpoint: (endpoints[index] as E).id, how: 'earliest deadline first over weight / (active + 1) ^ bias', weight, active_requests: active });
    edf.weights[index] = bias === 1 ? weight / (active + 1) : weight / (active + 1) ** bias;
    edf.advance(index);
    if (ctx.tried.size === 0 || !ctx.tried.has((endpoints[index] as E).id)) return index;
    // Prefer an endpoint this request has not tried (a retry): nearest untried one after the scheduled one.
    return firstUntried(endpoints.length, index, triedTest(endpoints, ctx));
  }
}

class LeastRequestBalancer<E extends BalancerEndpoint> implements Balancer<E> {
  constructor(
    private readonly config: LeastRequestConfig,
    private readonly helper: BalancerHelper<E>,
  ) {}

  update(endpoints: readonly E[]): void {
    this.helper.publish(new LeastRequestPicker(endpoints, this.config, () => this.helper.random()));
  }

  destroy(): void {}
}

export const leastRequest: BalancerFactory<LeastRequestConfig> = {
  name: TYPE_NAME,
  configSchema: LeastRequestConfig,
  usesHashKey: false,
  create: (config, helper) => new LeastRequestBalancer(config, helper),
};
