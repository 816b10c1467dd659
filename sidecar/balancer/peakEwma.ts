import { z } from 'zod';
import { DurationField } from '../config/fields.js';
import {
  OkPick,
  type Balancer,
  type BalancerEndpoint,
  type BalancerFactory,
  type BalancerHelper,
  type OnDone,
  type Outcome,
  type PickContext,
  type PickResult,
  type Picker,
} from './balancer.js';
import { drawCandidates, firstUntried } from './support/choices.js';

const TYPE_NAME = 'peak_ewma';

const PeakEwmaConfig = z.strictObject({
  policy: z.literal(TYPE_NAME),
  /** The latency assumed for an endpoint before it has answered (Linkerd's default 30 ms). */
  default_rtt: DurationField.prefault('30ms'),
  /** How fast the estimate forgets: it falls by a factor of e per `decay` (Linkerd's default 10 s). */
  decay: DurationField.prefault('10s'),
  choice_count: z.number().int().min(2).max(100).default(2),
});
type PeakEwmaConfig = z.infer<typeof PeakEwmaConfig>;

/** One endpoint's latency estimate, kept across pickers for as long as the endpoint stays. */
class RttEstimate {
  constructor(
    public estimateMs: number,
    public updatedAt: number,
  ) {}

  /** The estimate decayed towards zero for the time since its last update, as tower's `PeakEwma` does at load time. */
  decayed(now: number, decayMs: number): number {
    const elapsed = now - this.updatedAt;
    if (elapsed > 0) {
      this.estimateMs *= Math.exp(-elapsed / decayMs);
      this.updatedAt = now;
    }
    return this.estimateMs;
  }

  /** Peak-sensitive: a slower observation replaces the estimate at once; a faster one is averaged in by elapsed time. */
  observe(rttMs: number, now: number, decayMs: number): void {
    if (rttMs > this.estimateMs) {
      this.estimateMs = rttMs;
    } else {
      const weight = Math.exp(-Math.max(now - this.updatedAt, 0) / decayMs);
      this.estimateMs = this.estimateMs * weight + rttMs * (1 - weight);
    }
    this.updatedAt = now;
  }
}

/**
 * Peak-EWMA, linkerd2-proxy's default balancer (tower's `PeakEwma` + p2c): each endpoint's cost is a
 * peak-sensitive, time-decayed moving average of its latency times (requests in flight + 1), divided
 * by its effective weight; each pick compares `choice_count` distinct random endpoints and takes the
 * cheapest. Latency is measured to the response head, so a long stream does not look like a slow
 * endpoint. An endpoint that stops getting traffic decays towards zero cost and is tried again.
 */
class PeakEwmaPicker<E extends BalancerEndpoint> implements Picker<E> {
  private readonly result: OkPick<E>;
  private readonly candidates: Int32Array;

  constructor(
    private readonly endpoints: readonly E[],
    private readonly estimates: readonly RttEstimate[],
    private readonly balancer: PeakEwmaBalancer<E>,
  ) {
    this.result = new OkPick(endpoints[0] as E, balancer.onDone);
    this.candidates = new Int32Array(balancer.config.choice_count);
  }

  pick(ctx: PickContext): PickResult<E> {
    const { endpoints, candidates, balancer } = this;
    const isTried = ctx.tried.size === 0 ? undefined : (index: number): boolean => ctx.tried.has((endpoints[index] as E).id);
    const drawn = drawCandidates(endpoints.length, balancer.config.choice_count, balancer.random, candidates, isTried);
    const now = balancer.now();
    let best = candidates[0] as number;
    let bestCost = this.cost(best, now);
    for (let i = 1; i < drawn; i++) {
      const candidate = candidates[i] as number;
      const cost = this.cost(candidate, now);
      // An endpoint not yet tried beats one that was; otherwise the cheaper one wins.
      const triedBest = isTried?.(best) === true;
      const triedCandidate = isTried?.(candidate) === true;
      if (triedBest !== triedCandidate ? triedBest : cost < bestCost) {
        best = candidate;
        bestCost = cost;
      }
    }
    if (isTried?.(best) === true) best = firstUntried(endpoints.length, best, isTried);
    return this.result.set(endpoints[best] as E);
  }

  private cost(index: number, now: number): number {
    const endpoint = this.endpoints[index] as E;
    const estimate = (this.estimates[index] as RttEstimate).decayed(now, this.balancer.decayMs);
    return (estimate * (endpoint.activeRequests + 1)) / Math.max(endpoint.effectiveWeight, Number.MIN_VALUE);
  }
}

class PeakEwmaBalancer<E extends BalancerEndpoint> implements Balancer<E> {
  readonly decayMs: number;
  private estimates = new Map<E, RttEstimate>();

  constructor(
    readonly config: PeakEwmaConfig,
    private readonly helper: BalancerHelper<E>,
  ) {
    this.decayMs = config.decay.ms;
  }

  readonly random = (): number => this.helper.random();
  readonly now = (): number => this.helper.now();

  /** One function for every pick: the endpoint comes as an argument, so no closure per request. */
  readonly onDone: OnDone<E> = (endpoint: E, outcome: Outcome) => {
    this.estimates.get(endpoint)?.observe(outcome.timeToHeadMs ?? outcome.latencyMs, this.helper.now(), this.decayMs);
  };

  update(endpoints: readonly E[]): void {
    const next = new Map<E, RttEstimate>();
    const now = this.helper.now();
    for (const endpoint of endpoints) next.set(endpoint, this.estimates.get(endpoint) ?? new RttEstimate(this.config.default_rtt.ms, now));
    this.estimates = next;
    this.helper.publish(new PeakEwmaPicker(endpoints, endpoints.map((endpoint) => next.get(endpoint) as RttEstimate), this));
  }

  destroy(): void {
    this.estimates.clear();
  }

  describeEndpoint(endpoint: E): Readonly<Record<string, unknown>> | undefined {
    const estimate = this.estimates.get(endpoint);
    return estimate === undefined ? undefined : { ewma_ms: Math.round(estimate.decayed(this.helper.now(), this.decayMs) * 1000) / 1000 };
  }
}

export const peakEwma: BalancerFactory<PeakEwmaConfig> = {
  name: TYPE_NAME,
  configSchema: PeakEwmaConfig,
  usesHashKey: false,
  create: (config, helper) => new PeakEwmaBalancer(config, helper),
};
