import type { HealthChecker, HealthVerdict } from './healthCheck.js';
import type { ActiveHealthCheckSettings } from './healthCheckConfig.js';

/**
 * Per-endpoint active health checking with Envoy's semantics (`envoy/upstream/health_checker.h`):
 * each endpoint is probed on its own schedule, and consecutive results past a threshold flip its
 * state. This module only keeps the states; its owner decides what an unhealthy endpoint means.
 */

/**
 * `unknown` until the first verdict. The owner routes to unknown endpoints: discovery already vouches
 * for them, and holding them back until a probe answers would empty a fresh cluster.
 */
export type ActiveHealthState = 'unknown' | 'healthy' | 'unhealthy';

export interface ActiveHealthTarget {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

export interface ActiveHealthHelper {
  /** A uniform number in [0, 1), for jitter. */
  random(): number;
  /** After every check: the verdict and the endpoint's state after it (state changes included). */
  checked(id: string, verdict: HealthVerdict, state: ActiveHealthState, changed: boolean): void;
}

export interface ActiveHealthDescription {
  readonly state: ActiveHealthState;
  readonly consecutive_successes: number;
  readonly consecutive_failures: number;
  /** The last verdict's detail (`HTTP 503 from GET /health`). */
  readonly last_result: string | null;
  readonly last_checked_ago_ms: number | null;
}

interface Endpoint {
  readonly target: ActiveHealthTarget;
  state: ActiveHealthState;
  successes: number;
  failures: number;
  lastResult: string | null;
  lastCheckedAt: number | null;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class ActiveHealthChecker {
  private readonly endpoints = new Map<string, Endpoint>();
  private stopped = false;

  constructor(
    private readonly settings: ActiveHealthCheckSettings,
    private readonly checker: HealthChecker,
    private readonly helper: ActiveHealthHelper,
  ) {}

  /**
   * The endpoints to check now: new ones start being checked, missing ones stop (their timers
   * cleared, results of probes in flight ignored). An id whose address or port changed is a new
   * endpoint: what was learnt about the old address says nothing about the new one.
   */
  sync(targets: Iterable<ActiveHealthTarget>): void {
    if (this.stopped) return;
    const wanted = new Map<string, ActiveHealthTarget>();
    for (const target of targets) wanted.set(target.id, target);
    for (const [id, endpoint] of this.endpoints) {
      const target = wanted.get(id);
      if (target === undefined || target.address !== endpoint.target.address || target.port !== endpoint.target.port) this.forget(endpoint);
    }
    for (const target of wanted.values()) {
      if (this.endpoints.has(target.id)) continue;
      const endpoint: Endpoint = { target, state: 'unknown', successes: 0, failures: 0, lastResult: null, lastCheckedAt: null, timer: undefined };
      this.endpoints.set(target.id, endpoint);
      this.schedule(endpoint, this.jitter(this.settings.initial_jitter.ms));
    }
  }

  /** `unknown` for endpoints not checked yet and for ids not tracked at all. */
  state(id: string): ActiveHealthState {
    return this.endpoints.get(id)?.state ?? 'unknown';
  }

  describe(id: string): ActiveHealthDescription | undefined {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined) return undefined;
    return {
      state: endpoint.state,
      consecutive_successes: endpoint.successes,
      consecutive_failures: endpoint.failures,
      last_result: endpoint.lastResult,
      last_checked_ago_ms: endpoint.lastCheckedAt === null ? null : Date.now() - endpoint.lastCheckedAt,
    };
  }

  /** Stops every schedule for good; later `sync` calls are ignored. */
  stop(): void {
    this.stopped = true;
    for (const endpoint of this.endpoints.values()) this.forget(endpoint);
  }

  private forget(endpoint: Endpoint): void {
    clearTimeout(endpoint.timer);
    endpoint.timer = undefined;
    this.endpoints.delete(endpoint.target.id);
  }

  private schedule(endpoint: Endpoint, delayMs: number): void {
    if (delayMs === 0) {
      void this.probe(endpoint);
      return;
    }
    const timer = setTimeout(() => void this.probe(endpoint), delayMs);
    // Health checks alone must not keep the process alive.
    if (typeof timer.unref === 'function') timer.unref();
    endpoint.timer = timer;
  }

  private async probe(endpoint: Endpoint): Promise<void> {
    endpoint.timer = undefined;
    const { address, port } = endpoint.target;
    let verdict: HealthVerdict;
    try {
      verdict = await this.checker.check({ address, port }, this.settings.timeout.ms);
    } catch (error) {
      // Checkers promise never to reject; a plugin that does must not end this endpoint's schedule.
      verdict = { healthy: false, detail: (error as Error).message };
    }
    // Synced away or stopped while the probe was in flight (or replaced by a new endpoint of the same id).
    if (this.endpoints.get(endpoint.target.id) !== endpoint) return;
    const before = endpoint.state;
    this.record(endpoint, verdict);
    // The next probe counts from this one's end, so probes of one endpoint never overlap. Scheduled
    // before the helper runs, so a helper that syncs this endpoint away also clears its timer.
    this.schedule(endpoint, this.settings.interval.ms + this.jitter(this.settings.interval_jitter.ms));
    this.helper.checked(endpoint.target.id, verdict, endpoint.state, endpoint.state !== before);
  }

  private record(endpoint: Endpoint, verdict: HealthVerdict): void {
    endpoint.lastResult = verdict.detail;
    endpoint.lastCheckedAt = Date.now();
    if (verdict.healthy) {
      endpoint.successes++;
      endpoint.failures = 0;
      // An unknown endpoint needs one success; an unhealthy one must prove itself healthy_threshold times.
      if (endpoint.state === 'unknown' || (endpoint.state === 'unhealthy' && endpoint.successes >= this.settings.healthy_threshold)) endpoint.state = 'healthy';
    } else {
      endpoint.failures++;
      endpoint.successes = 0;
      if (endpoint.failures >= this.settings.unhealthy_threshold) endpoint.state = 'unhealthy';
    }
  }

  /** Uniform in [0, maxMs), whole milliseconds; no draw when there is no jitter. */
  private jitter(maxMs: number): number {
    return maxMs === 0 ? 0 : Math.floor(this.helper.random() * maxMs);
  }
}
