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
  type PickExplanation,
  type PickResult,
  type Picker,
} from './balancer.js';
import { drawCandidates, explainCandidates, firstUntried, triedTest } from './support/choices.js';

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

  /** @param slots each endpoint's slot in the balancer's estimate arrays. */
  constructor(
    private readonly endpoints: readonly E[],
    private readonly slots: Int32Array,
    private readonly balancer: PeakEwmaBalancer<E>,
  ) {
    this.result = new OkPick(endpoints[0] as E, balancer.onDone);
    this.candidates = new Int32Array(balancer.config.choice_count);
  }

  pick(ctx: PickContext): PickResult<E> {
    return this.result.set(this.endpoints[this.cheapestOfChoices(ctx.tried.size === 0 ? undefined : triedTest(this.endpoints, ctx), ctx.explain)] as E);
  }

  /** Kept apart from `pick` so the retry-only closure (and its context) is not allocated on every pick. */
  private cheapestOfChoices(isTried: ((index: number) => boolean) | undefined, explain: PickExplanation | undefined): number {
    const { endpoints, candidates, balancer } = this;
    const drawn = drawCandidates(endpoints.length, balancer.config.choice_count, balancer.random, candidates, isTried);
    const now = balancer.now();
    if (explain !== undefined) {
      explainCandidates(explain, endpoints, candidates, drawn, isTried, (endpoint) => {
        const index = endpoints.indexOf(endpoint);
        return { active_requests: endpoint.activeRequests, ewma_ms: round(balancer.decayed(this.slots[index] as number, now)), cost: round(this.cost(index, now)) };
      });
    }
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
    return isTried?.(best) === true ? firstUntried(endpoints.length, best, isTried) : best;
  }

  private cost(index: number, now: number): number {
    const endpoint = this.endpoints[index] as E;
    const estimate = this.balancer.decayed(this.slots[index] as number, now);
    return (estimate * (endpoint.activeRequests + 1)) / Math.max(endpoint.effectiveWeight, Number.MIN_VALUE);
  }
}

/**
 * Keeps each endpoint's latency estimate, for as long as the endpoint stays, in typed arrays indexed
 * by a slot per endpoint: updating a double stored in an object allocates a box, a typed array does not.
 */
class PeakEwmaBalancer<E extends BalancerEndpoint> implements Balancer<E> {
  readonly decayMs: number;
  private readonly slots = new Map<E, number>();
  private readonly freeSlots: number[] = [];
  private estimates: Float64Array<ArrayBuffer> = new Float64Array(16);
  private updatedAt: Float64Array<ArrayBuffer> = new Float64Array(16);

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
    const slot = this.slots.get(endpoint);
    if (slot !== undefined) this.observe(slot, outcome.timeToHeadMs ?? outcome.latencyMs, this.helper.now());
  };

  /** The estimate decayed towards zero for the time since its last update, as tower's `PeakEwma` does at load time. */
  decayed(slot: number, now: number): number {
    const elapsed = now - (this.updatedAt[slot] as number);
    if (elapsed > 0) {
      this.estimates[slot] = (this.estimates[slot] as number) * Math.exp(-elapsed / this.decayMs);
      this.updatedAt[slot] = now;
    }
    return this.estimates[slot] as number;
  }

  /** Peak-sensitive: a slower observation replaces the estimate at once; a faster one is averaged in by elapsed time. */
  private observe(slot: number, rttMs: number, now: number): void {
    const estimate = this.estimates[slot] as number;
    if (rttMs > estimate) {
      this.estimates[slot] = rttMs;
    } else {
      const weight = Math.exp(-Math.max(now - (this.updatedAt[slot] as number), 0) / this.decayMs);
      this.estimates[slot] = estimate * weight + rttMs * (1 - weight);
    }
    this.updatedAt[slot] = now;
  }

  update(endpoints: readonly E[]): void {
    const current = new Set(endpoints);
    for (const [endpoint, slot] of this.slots) {
      if (current.has(endpoint)) continue;
      this.slots.delete(endpoint);
      this.freeSlots.push(slot);
    }
    const now = this.helper.now();
    const slots = Int32Array.from(endpoints, (endpoint) => this.slotFor(endpoint, now));
    this.helper.publish(new PeakEwmaPicker(endpoints, slots, this));
  }

  destroy(): void {
    this.slots.clear();
  }

  describeEndpoint(endpoint: E): Readonly<Record<string, unknown>> | undefined {
    const slot = this.slots.get(endpoint);
    return slot === undefined ? undefined : { ewma_ms: round(this.decayed(slot, this.helper.now())) };
  }

  /** The endpoint's slot; a new endpoint starts at default_rtt. */
  private slotFor(endpoint: E, now: number): number {
    const existing = this.slots.get(endpoint);
    if (existing !== undefined) return existing;
    const slot = this.freeSlots.pop() ?? this.slots.size;
    if (slot >= this.estimates.length) {
      const grown = Math.max(this.estimates.length * 2, slot + 1);
      this.estimates = grow(this.estimates, grown);
      this.updatedAt = grow(this.updatedAt, grown);
    }
    this.estimates[slot] = this.config.default_rtt.ms;
    this.updatedAt[slot] = now;
    this.slots.set(endpoint, slot);
    return slot;
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function grow(values: Float64Array<ArrayBuffer>, length: number): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(length);
  grown.set(values);
  return grown;
}

export const peakEwma: BalancerFactory<PeakEwmaConfig> = {
  name: TYPE_NAME,
  configSchema: PeakEwmaConfig,
  usesHashKey: false,
  create: (config, helper) => new PeakEwmaBalancer(config, helper),
};
