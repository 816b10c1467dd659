import type { Outcome } from '../balancer/balancer.js';
import type { OutlierDetectionConfig } from './outlierDetectionConfig.js';
import { classifyForOutlierDetection, type OutlierSignal } from './outlierOutcome.js';

/**
 * Passive outlier detection with Envoy's semantics
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier): an observer
 * of finished attempts that takes failing endpoints out of service for a while. It never sees a
 * request; the owner asks `isEjected` (or listens to `changed`) when it rebuilds the endpoint set.
 */

export type EjectionReason =
  | 'consecutive_5xx'
  | 'consecutive_gateway_failure'
  | 'consecutive_local_origin_failure'
  | 'success_rate'
  | 'failure_percentage';

/**
 * An ejection as decided, to be applied as it is by other detectors of the same upstream (a Tandem's
 * other workers, `adopt`): the endpoint, why, for how long, and the ejection multiplier it reached.
 */
export interface EjectionVerdict {
  readonly endpoint: string;
  readonly reason: EjectionReason;
  readonly durationMs: number;
  readonly timesEjected: number;
}

export interface OutlierDetectorHelper {
  /** Monotonic ms. */
  now(): number;
  /** [0,1) */
  random(): number;
  /**
   * An endpoint was ejected or returned; the owner recomputes which endpoints take traffic. `reason`
   * is an `EjectionReason`, `'ejection_time_elapsed'`, or the `why` given to `uneject`. `adopted`:
   * the ejection was decided by another detector (`adopt`), which counted it.
   */
  changed(id: string, ejected: boolean, reason: EjectionReason | 'ejection_time_elapsed' | (string & {}), adopted?: boolean): void;
  /** This detector decided an ejection (not one it adopted): for the owner to share. */
  decided?(verdict: EjectionVerdict): void;
}

/** One endpoint's state for `/clusters`. */
export interface OutlierEndpointState {
  ejected: boolean;
  ejection_reason: string | null;
  ejection_remaining_ms: number | null;
  times_ejected: number;
  consecutive_5xx: number;
  consecutive_gateway_failures: number;
  consecutive_local_origin_failures: number;
  /** Percent over the last complete interval, null if it had no requests. */
  success_rate: number | null;
}

export interface OutlierStats {
  ejected: number;
  ejections_total: number;
  /** Ejections refused by `max_ejection_percent`. */
  ejections_overflowed: number;
}

interface Ejection {
  readonly reason: EjectionReason;
  readonly until: number;
  readonly timer: ReturnType<typeof setTimeout>;
}

interface Tracked {
  consecutive5xx: number;
  consecutiveGatewayFailures: number;
  consecutiveLocalOriginFailures: number;
  /** The ejection-time multiplier: raised by each ejection, lowered by each clean interval. */
  timesEjected: number;
  ejection: Ejection | undefined;
  ejectedDuringInterval: boolean;
  intervalSuccesses: number;
  intervalTotal: number;
  lastSuccessRate: number | null;
}

/** An endpoint judged at an interval: in service, with enough requests. */
interface Judged {
  readonly id: string;
  readonly state: Tracked;
  /** Requests in the interval. */
  readonly total: number;
  readonly successPercent: number;
}

const PERCENT = 100;
/** `success_rate_stdev_factor` is in thousandths (1900 means 1.9 stdev). */
const STDEV_FACTOR_SCALE = 1000;

const tracked = (): Tracked => ({
  consecutive5xx: 0,
  consecutiveGatewayFailures: 0,
  consecutiveLocalOriginFailures: 0,
  timesEjected: 0,
  ejection: undefined,
  ejectedDuringInterval: false,
  intervalSuccesses: 0,
  intervalTotal: 0,
  lastSuccessRate: null,
});

/** A consecutive detector fires when its counter reaches a threshold above 0. */
const reached = (count: number, threshold: number): boolean => threshold > 0 && count >= threshold;

export class OutlierDetector {
  private readonly endpoints = new Map<string, Tracked>();
  private intervalTimer: ReturnType<typeof setInterval> | undefined;
  private ejectionsTotal = 0;
  private ejectionsOverflowed = 0;

  constructor(
    private readonly config: OutlierDetectionConfig,
    private readonly helper: OutlierDetectorHelper,
  ) {}

  /** The endpoints that exist now (ids); new ones are tracked, missing ones forgotten (and their timers cleared). */
  sync(ids: Iterable<string>): void {
    const present = new Set(ids);
    for (const [id, state] of this.endpoints) {
      if (present.has(id)) continue;
      if (state.ejection !== undefined) clearTimeout(state.ejection.timer);
      this.endpoints.delete(id);
    }
    for (const id of present) if (!this.endpoints.has(id)) this.endpoints.set(id, tracked());
  }

  /**
   * One finished attempt on endpoint `id`. Attempts finishing while it is ejected are ignored: they
   * were sent before the ejection, and its counters start afresh when it returns.
   */
  record(id: string, outcome: Outcome): void {
    if (!this.config.enabled) return;
    const state = this.endpoints.get(id);
    if (state === undefined || state.ejection !== undefined) return;
    const signal = classifyForOutlierDetection(outcome);
    if (signal === 'neutral') return;
    if (!this.config.split_external_local_origin_errors) {
      // Unsplit, Envoy maps a local failure to a 503: it is a 5xx and a gateway failure.
      this.recordExternal(id, state, signal === 'local_failure' ? 'gateway_failure' : signal);
      return;
    }
    if (signal === 'local_failure') {
      state.consecutiveLocalOriginFailures++;
      if (reached(state.consecutiveLocalOriginFailures, this.config.consecutive_local_origin_failure)) {
        state.consecutiveLocalOriginFailures = 0;
        this.tryEject(id, state, 'consecutive_local_origin_failure', this.config.enforcing_consecutive_local_origin_failure);
      }
      return;
    }
    // The endpoint answered, so the connection side worked: a local-origin success.
    state.consecutiveLocalOriginFailures = 0;
    this.recordExternal(id, state, signal);
  }

  isEjected(id: string): boolean {
    return this.endpoints.get(id)?.ejection !== undefined;
  }

  /** Returns the endpoint to service now (an active health check passed); no-op if not ejected. */
  uneject(id: string, why: string): void {
    const state = this.endpoints.get(id);
    if (state?.ejection !== undefined) this.returnToService(id, state, why);
  }

  /**
   * Applies an ejection another detector of this upstream decided (a Tandem's other worker): the
   * endpoint leaves for the same time, and the multiplier follows the decider's, as if this detector
   * had seen the failures too — Envoy's workers share one detector, whose verdicts every worker
   * obeys. Ignored for an endpoint unknown here or already ejected, or beyond `max_ejection_percent`.
   */
  adopt(verdict: EjectionVerdict): void {
    if (!this.config.enabled) return;
    const state = this.endpoints.get(verdict.endpoint);
    if (state === undefined || state.ejection !== undefined || !this.roomToEject()) return;
    state.timesEjected = Math.max(state.timesEjected, verdict.timesEjected);
    this.eject(verdict.endpoint, state, verdict.reason, verdict.durationMs, true);
  }

  /** Starts the interval timer (global setInterval, .unref()). */
  start(): void {
    if (!this.config.enabled || this.intervalTimer !== undefined) return;
    this.intervalTimer = setInterval(() => this.evaluate(), this.config.interval.ms);
    this.intervalTimer.unref();
  }

  /** Stops the interval timer and every pending return, for teardown: ejected endpoints stay ejected. */
  stop(): void {
    clearInterval(this.intervalTimer);
    this.intervalTimer = undefined;
    for (const state of this.endpoints.values()) if (state.ejection !== undefined) clearTimeout(state.ejection.timer);
  }

  /** Runs one interval evaluation now (the timer calls this; tests may too). */
  evaluate(): void {
    if (!this.config.enabled) return;
    const judged: Judged[] = [];
    for (const [id, state] of this.endpoints) {
      // Envoy lowers the ejection multiplier once per interval the endpoint spent wholly in service.
      if (state.ejection === undefined && !state.ejectedDuringInterval && state.timesEjected > 0) state.timesEjected--;
      state.ejectedDuringInterval = state.ejection !== undefined;
      const { intervalSuccesses: successes, intervalTotal: total } = state;
      state.lastSuccessRate = total > 0 ? (PERCENT * successes) / total : null;
      if (state.ejection === undefined && state.lastSuccessRate !== null) {
        judged.push({ id, state, total, successPercent: state.lastSuccessRate });
      }
      state.intervalSuccesses = 0;
      state.intervalTotal = 0;
    }
    this.ejectBySuccessRate(judged);
    this.ejectByFailurePercentage(judged);
  }

  /** For /clusters: state of one endpoint, snake_case keys. */
  describe(id: string): OutlierEndpointState | undefined {
    const state = this.endpoints.get(id);
    if (state === undefined) return undefined;
    const { ejection } = state;
    return {
      ejected: ejection !== undefined,
      ejection_reason: ejection?.reason ?? null,
      ejection_remaining_ms: ejection === undefined ? null : Math.max(0, ejection.until - this.helper.now()),
      times_ejected: state.timesEjected,
      consecutive_5xx: state.consecutive5xx,
      consecutive_gateway_failures: state.consecutiveGatewayFailures,
      consecutive_local_origin_failures: state.consecutiveLocalOriginFailures,
      success_rate: state.lastSuccessRate,
    };
  }

  /** Counts for /clusters and metrics. */
  stats(): OutlierStats {
    return { ejected: this.ejectedCount(), ejections_total: this.ejectionsTotal, ejections_overflowed: this.ejectionsOverflowed };
  }

  /** An answer from the endpoint (or, unsplit, a local failure as a 503). */
  private recordExternal(id: string, state: Tracked, signal: Exclude<OutlierSignal, 'neutral' | 'local_failure'>): void {
    state.intervalTotal++;
    if (signal === 'success') {
      state.intervalSuccesses++;
      state.consecutive5xx = 0;
      state.consecutiveGatewayFailures = 0;
      return;
    }
    state.consecutive5xx++;
    // A 5xx that is not a gateway failure breaks a run of gateway failures (Envoy's putHttpResponseCode).
    state.consecutiveGatewayFailures = signal === 'gateway_failure' ? state.consecutiveGatewayFailures + 1 : 0;
    if (reached(state.consecutiveGatewayFailures, this.config.consecutive_gateway_failure)) {
      state.consecutiveGatewayFailures = 0;
      this.tryEject(id, state, 'consecutive_gateway_failure', this.config.enforcing_consecutive_gateway_failure);
    }
    if (reached(state.consecutive5xx, this.config.consecutive_5xx)) {
      state.consecutive5xx = 0;
      this.tryEject(id, state, 'consecutive_5xx', this.config.enforcing_consecutive_5xx);
    }
  }

  /** Envoy's success-rate detector: eject below mean − (factor / 1000) × population stdev. */
  private ejectBySuccessRate(candidates: readonly Judged[]): void {
    const config = this.config;
    const judged = candidates.filter((c) => c.total >= config.success_rate_request_volume);
    if (judged.length === 0 || judged.length < config.success_rate_minimum_hosts) return;
    const mean = judged.reduce((sum, c) => sum + c.successPercent, 0) / judged.length;
    const variance = judged.reduce((sum, c) => sum + (c.successPercent - mean) ** 2, 0) / judged.length;
    const threshold = mean - (config.success_rate_stdev_factor / STDEV_FACTOR_SCALE) * Math.sqrt(variance);
    for (const c of judged) {
      if (c.successPercent < threshold) this.tryEject(c.id, c.state, 'success_rate', config.enforcing_success_rate);
    }
  }

  /** Envoy's failure-percentage detector: eject at or above `failure_percentage_threshold`. */
  private ejectByFailurePercentage(candidates: readonly Judged[]): void {
    const config = this.config;
    const judged = candidates.filter((c) => c.total >= config.failure_percentage_request_volume);
    if (judged.length === 0 || judged.length < config.failure_percentage_minimum_hosts) return;
    for (const c of judged) {
      if (PERCENT - c.successPercent >= config.failure_percentage_threshold) {
        this.tryEject(c.id, c.state, 'failure_percentage', config.enforcing_failure_percentage);
      }
    }
  }

  private tryEject(id: string, state: Tracked, reason: EjectionReason, enforcingPercent: number): void {
    if (state.ejection !== undefined) return;
    // max_ejection_percent is checked before enforcement, as in Envoy's DetectorImpl::ejectHost.
    if (!this.roomToEject()) {
      this.ejectionsOverflowed++;
      return;
    }
    if (this.helper.random() * PERCENT >= enforcingPercent) return;
    state.timesEjected++;
    const { base_ejection_time: base, max_ejection_time: max } = this.config;
    const durationMs = Math.min(base.ms * state.timesEjected, Math.max(max.ms, base.ms));
    this.ejectionsTotal++;
    this.eject(id, state, reason, durationMs, false);
    this.helper.decided?.({ endpoint: id, reason, durationMs, timesEjected: state.timesEjected });
  }

  /** Whether one more endpoint may be ejected; the first always may (Envoy's always_eject_one_host), so small clusters still eject. */
  private roomToEject(): boolean {
    const ejected = this.ejectedCount();
    return ejected === 0 || (ejected + 1) * PERCENT <= this.config.max_ejection_percent * this.endpoints.size;
  }

  private eject(id: string, state: Tracked, reason: EjectionReason, durationMs: number, adopted: boolean): void {
    // A timer per ejection returns the endpoint exactly on time; Envoy only checks at each interval,
    // so its ejections last up to one interval longer than configured.
    const timer = setTimeout(() => this.returnToService(id, state, 'ejection_time_elapsed'), durationMs);
    timer.unref();
    state.ejection = { reason, until: this.helper.now() + durationMs, timer };
    state.ejectedDuringInterval = true;
    this.helper.changed(id, true, reason, adopted);
  }

  private returnToService(id: string, state: Tracked, why: string): void {
    if (state.ejection !== undefined) clearTimeout(state.ejection.timer);
    state.ejection = undefined;
    state.consecutive5xx = 0;
    state.consecutiveGatewayFailures = 0;
    state.consecutiveLocalOriginFailures = 0;
    this.helper.changed(id, false, why);
  }

  private ejectedCount(): number {
    let count = 0;
    for (const state of this.endpoints.values()) if (state.ejection !== undefined) count++;
    return count;
  }
}
