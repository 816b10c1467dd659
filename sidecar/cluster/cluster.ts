import { endpointId, type EndpointSpec, type Resolver } from '../../discovery/resolver.js';
import type { Balancer, BalancerHelper, Outcome, PickContext, PickResult, Picker } from '../balancer/balancer.js';
import { balancerFactory } from '../balancer/registry.js';
import type { UpstreamConfig } from '../config/schema.js';
import { ErrorCode, TandemError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { ActiveHealthChecker } from '../health/activeHealthChecker.js';
import { healthCheckKind } from '../health/healthCheck.js';
import { ResourceLimits } from '../limits/resourceLimits.js';
import { NO_METRICS, type UpstreamMetrics } from '../observe/metrics.js';
import type { TraceExemplar } from '../observe/tracing/tracing.js';
import { RetryBudget } from '../retry/retryBudget.js';
import type { Connector } from '../upstream/connector.js';
import { createPool } from '../upstream/pools.js';
import type { Endpoint } from './endpoint.js';
import { EndpointSet } from './endpointSet.js';
import { OutlierDetector, type EjectionVerdict } from './outlierDetection.js';
import { exclusionsOf, RecordedExplanation, type EndpointVerdict, type PickDecision } from './pickDecision.js';
import type { SlowStartConfig } from './slowStart.js';

const log = createLogger('cluster');

/** Until discovery first answers, picks wait (linkerd's queue, grpc-js's QueuePicker). */
const QUEUE_PICKER: Picker<Endpoint> = { pick: () => ({ kind: 'queue' }) };

const NONE_TRIED: ReadonlySet<string> = new Set();

/** How often effective weights are recomputed while an endpoint ramps up: often enough to be smooth. */
const SLOW_START_STEPS_PER_WINDOW = 50;
const SLOW_START_MIN_STEP_MS = 100;

export interface ClusterDependencies {
  readonly resolver: Resolver;
  readonly connector: Connector;
  readonly metrics?: UpstreamMetrics;
  readonly random?: () => number;
  /** Monotonic milliseconds (performance.now by default); injected for slow-start tests. */
  readonly now?: () => number;
  /**
   * Told each ejection this cluster's outlier detection decides, to share with the same upstream's
   * clusters elsewhere (a Tandem's other workers), which `adoptEjection` it.
   */
  readonly ejectionDecided?: (verdict: EjectionVerdict) => void;
}

/**
 * An upstream: the endpoints discovery reports for it, the balancer choosing among them and the
 * connection pools reaching them, with what decides which endpoints take traffic besides discovery —
 * outlier detection and active health checks — and the resources its requests share (circuit-breaker
 * limits, the retry budget). The request path asks it for a pick and reports each attempt's outcome;
 * everything else here runs on discovery's schedule or a timer, not per request.
 */
export class Cluster {
  readonly name: string;
  /** Circuit-breaker counts, spent by the limits and retry layers and the pools. */
  readonly limits: ResourceLimits;
  /** The upstream's retry budget, shared by its routes unless a route sets its own. */
  readonly retryBudget: RetryBudget;
  private readonly outliers: OutlierDetector;
  private readonly healthChecker: ActiveHealthChecker | undefined;
  private readonly endpoints: EndpointSet;
  private readonly balancer: Balancer<Endpoint>;
  private readonly resolver: Resolver;
  private readonly metrics: UpstreamMetrics;
  private readonly now: () => number;
  private readonly slowStart: SlowStartConfig | undefined;
  private picker: Picker<Endpoint> = QUEUE_PICKER;
  private pickerWaiters: Array<() => void> = [];
  private routableIds: ReadonlySet<string> = new Set();
  private panic = false;
  private rampTimer: NodeJS.Timeout | undefined;
  private syncedAt: Date | undefined;
  private lastError: Error | undefined;

  constructor(
    readonly config: UpstreamConfig,
    dependencies: ClusterDependencies,
  ) {
    this.name = config.name;
    this.resolver = dependencies.resolver;
    this.metrics = dependencies.metrics ?? NO_METRICS;
    const random = dependencies.random ?? Math.random;
    this.now = dependencies.now ?? (() => performance.now());
    const slowStart = config.lb.slow_start;
    this.slowStart =
      slowStart === undefined
        ? undefined
        : { windowMs: slowStart.window.ms, aggression: slowStart.aggression, minWeightPercent: slowStart.min_weight_percent };
    this.limits = new ResourceLimits(config.name, config.circuit_breaker, this.metrics.overflows);
    this.retryBudget = new RetryBudget(config.retry.budget, this.now);
    this.outliers = new OutlierDetector(config.outlier_detection, {
      now: this.now,
      random,
      changed: (id, ejected, reason, adopted) => this.ejectionChanged(id, ejected, reason, adopted === true),
      ...(dependencies.ejectionDecided === undefined ? {} : { decided: dependencies.ejectionDecided }),
    });
    this.healthChecker = this.createHealthChecker(random);
    this.endpoints = new EndpointSet(
      (spec) =>
        createPool(config.protocol, {
          upstream: config.name,
          address: spec.address,
          port: spec.port,
          connector: dependencies.connector,
          connectTimeoutMs: config.connect_timeout.ms,
          serverName: config.service,
          expectedIdentity: spec.identity,
          maxConnections: config.pool.max_connections_per_endpoint,
          maxConcurrentStreams: config.pool.max_concurrent_streams,
          idleTimeoutMs: config.pool.idle_timeout.ms,
          initialStreamWindowBytes: config.pool.initial_stream_window_size,
          limits: this.limits,
          onGoneAwayChange: () => this.goneAwayChanged(spec),
          connectionMetrics: this.metrics.connections,
        }),
      config.lb.healthy_panic_threshold,
    );
    const factory = balancerFactory(config.lb.policy);
    if (factory === undefined) throw new Error(`unknown balancing policy "${config.lb.policy}"`); // config validation prevents this
    const helper: BalancerHelper<Endpoint> = {
      publish: (picker) => this.publish(picker),
      random: () => random(),
      now: () => this.now(),
      totalActiveRequests: () => this.endpoints.load.activeRequests,
    };
    this.balancer = factory.create(config.lb, helper);
  }

  /** Starts following discovery. */
  start(): void {
    this.outliers.start();
    this.resolver.start({
      onUpdate: (update) => {
        const first = this.syncedAt === undefined;
        this.syncedAt = new Date();
        this.metrics.discoverySynced.set(this.syncedAt.getTime() / 1000);
        if (this.lastError !== undefined) log.info('discovery answering again', { upstream: this.name });
        this.lastError = undefined;
        if (this.endpoints.apply(update, this.now(), first) || first) {
          this.watchEndpoints();
          this.refresh();
        }
      },
      onError: (error) => {
        // One line per outage, not per failed query: the metric counts them all.
        if (this.lastError === undefined) log.warn('discovery error; keeping the last known endpoints', { upstream: this.name, error });
        this.lastError = error;
        this.metrics.discoveryErrors.inc();
      },
    });
  }

  /** True once discovery has answered at least once. */
  get synced(): boolean {
    return this.syncedAt !== undefined;
  }

  /** The last discovery error since its last good answer, if any. */
  get discoveryError(): Error | undefined {
    return this.lastError;
  }

  pick(ctx: PickContext): PickResult<Endpoint> {
    return this.picker.pick(ctx);
  }

  /** The endpoint `id` if it may take requests now (for stateful sessions), else undefined. */
  routableEndpoint(id: string): Endpoint | undefined {
    return this.routableIds.has(id) ? this.endpoints.get(id) : undefined;
  }

  /** How an attempt on `endpoint` went, for outlier detection and the endpoint's metrics (`exemplar`: its sampled span). */
  recordOutcome(endpoint: Endpoint, outcome: Outcome, exemplar?: TraceExemplar): void {
    this.outliers.record(endpoint.id, outcome);
    this.metrics.endpoints.record(endpoint.id, outcome, this.config.protocol === 'grpc', exemplar);
  }

  /** Counts a request to a hashing upstream that had no hash key. */
  hashKeyMissing(): void {
    this.metrics.hashKeyMissing.inc();
  }

  /**
   * Resolves when the next picker is published, or after `timeoutMs` (then with false).
   * Used by requests that got a `queue` pick.
   */
  waitForPicker(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const index = this.pickerWaiters.indexOf(wake);
        if (index >= 0) this.pickerWaiters.splice(index, 1);
        resolve(false);
      }, timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.pickerWaiters.push(wake);
    });
  }

  /**
   * Recomputes the endpoints to balance over and their effective weights, and hands them to the
   * balancer. Runs on every discovery change, and on a timer while an endpoint is in slow start.
   */
  refresh(): void {
    clearTimeout(this.rampTimer);
    this.rampTimer = undefined;
    const { endpoints, panic } = this.endpoints.routable();
    if (panic !== this.panic) {
      this.panic = panic;
      this.metrics.panic.set(panic ? 1 : 0);
      if (panic) log.warn('too few healthy endpoints; balancing over all of them (panic)', { upstream: this.name });
      else log.info('enough healthy endpoints again; panic over', { upstream: this.name });
    }
    this.routableIds = new Set(endpoints.map((endpoint) => endpoint.id));
    if (endpoints.length === 0) {
      const error = new TandemError(
        ErrorCode.NoHealthyEndpoint,
        `upstream "${this.name}" has no healthy endpoint (${this.endpoints.size} known, none eligible)`,
        { upstream: this.name },
      );
      this.publish({ pick: () => ({ kind: 'fail', error }) });
      return;
    }
    const ramping = this.endpoints.applySlowStart(endpoints, this.now(), this.slowStart);
    this.balancer.update(endpoints);
    if (ramping && this.slowStart !== undefined) {
      const step = Math.max(SLOW_START_MIN_STEP_MS, this.slowStart.windowMs / SLOW_START_STEPS_PER_WINDOW);
      this.rampTimer = setTimeout(() => this.refresh(), step);
      this.rampTimer.unref();
    }
  }

  close(): void {
    clearTimeout(this.rampTimer);
    this.outliers.stop();
    this.healthChecker?.stop();
    this.resolver.stop();
    this.balancer.destroy();
    this.endpoints.close();
    this.publish({ pick: () => ({ kind: 'fail', error: new TandemError(ErrorCode.ShuttingDown, `upstream "${this.name}" is shut down`, { upstream: this.name }) }) });
  }

  /**
   * What the picker would choose now for a request with `hashKey`, and why (`GET /debug/lb`): a real
   * pick that sends nothing, so a policy with a turn (round robin, weighted schedules) takes it.
   */
  explainPick(hashKey: number | undefined): PickDecision {
    const explanation = new RecordedExplanation();
    const pick = this.picker.pick({ tried: NONE_TRIED, hashKey, explain: explanation });
    return {
      policy: this.config.lb.policy,
      synced: this.synced,
      panic: this.panic,
      endpoints: [...this.endpoints.all()].map((endpoint) => this.verdictOn(endpoint)),
      steps: explanation.steps,
      considered: explanation.weighed,
      chosen: pick.kind === 'ok' ? pick.endpoint.id : null,
      failure: pick.kind === 'fail' ? pick.error.message : pick.kind === 'queue' ? 'discovery has not answered yet; requests wait for its first answer' : null,
    };
  }

  /** `endpoint` as `/debug/lb` shows it. */
  private verdictOn(endpoint: Endpoint): EndpointVerdict {
    return {
      endpoint: endpoint.id,
      routable: this.routableIds.has(endpoint.id),
      excluded_by: exclusionsOf(endpoint, this.outliers.describe(endpoint.id)),
      weight: endpoint.weight,
      effective_weight: endpoint.effectiveWeight,
      slow_start: endpoint.effectiveWeight < endpoint.weight,
      active_requests: endpoint.activeRequests,
      ...(this.balancer.describeEndpoint?.(endpoint) ?? {}),
    };
  }

  /** The endpoints as `/stats` shows them, with the requests in flight on each. */
  endpointStates(): Array<{ readonly id: string; readonly eligible: boolean; readonly ejected: boolean; readonly health: string; readonly activeRequests: number }> {
    return [...this.endpoints.all()].map((endpoint) => ({ id: endpoint.id, eligible: endpoint.eligible, ejected: endpoint.ejected, health: endpoint.health, activeRequests: endpoint.activeRequests }));
  }

  /** The `/clusters` view. */
  toJSON(): object {
    return {
      name: this.name,
      service: this.config.service,
      protocol: this.config.protocol,
      lb_policy: this.config.lb.policy,
      ...(this.balancer.describe?.() ?? {}),
      panic: this.panic,
      synced: this.synced,
      last_sync: this.syncedAt?.toISOString() ?? null,
      discovery_error: this.lastError?.message ?? null,
      circuit_breakers: this.limits.toJSON(),
      retry_budget: this.retryBudget.describe(),
      outlier_detection: this.config.outlier_detection.enabled ? this.outliers.stats() : null,
      endpoints: [...this.endpoints.all()].map((endpoint) => ({
        ...endpoint.toJSON(),
        ...(this.balancer.describeEndpoint?.(endpoint) ?? {}),
        outlier: this.config.outlier_detection.enabled ? (this.outliers.describe(endpoint.id) ?? null) : null,
        active_health_check: this.healthChecker?.describe(endpoint.id) ?? null,
      })),
    };
  }

  /** Keeps outlier detection and active health checks following the endpoints discovery reports. */
  private watchEndpoints(): void {
    const all = [...this.endpoints.all()];
    this.outliers.sync(all.map((endpoint) => endpoint.id));
    this.metrics.endpoints.keepOnly(new Set(all.map((endpoint) => endpoint.id)));
    this.healthChecker?.sync(all);
  }

  /** An endpoint said it is going away (GOAWAY) and takes no new requests until it accepts a connection again, or is back. */
  private goneAwayChanged(spec: EndpointSpec): void {
    const endpoint = this.endpoints.get(endpointId(spec));
    if (endpoint === undefined) return; // removed by discovery meanwhile
    log.info(endpoint.pool.goneAway ? 'endpoint going away (GOAWAY); no new requests until it accepts a connection' : 'endpoint accepting connections again after GOAWAY', {
      upstream: this.name,
      endpoint: endpoint.id,
    });
    this.endpoints.poolAvailabilityChanged();
    this.refresh();
  }

  /** Ejects an endpoint as the same upstream's outlier detection elsewhere decided (`ejectionDecided`). */
  adoptEjection(verdict: EjectionVerdict): void {
    this.outliers.adopt(verdict);
  }

  private ejectionChanged(id: string, ejected: boolean, reason: string, adopted: boolean): void {
    this.metrics.ejected.set(this.outliers.stats().ejected);
    if (!this.endpoints.setEjected(id, ejected)) return;
    if (ejected && adopted) {
      // Counted in tandem_outlier_ejections_total where it was decided, so that the workers' sum counts it once.
      log.info('endpoint ejected as another worker decided', { upstream: this.name, endpoint: id, reason });
    } else if (ejected) {
      this.metrics.ejections.inc({ reason });
      log.warn('endpoint ejected by outlier detection', { upstream: this.name, endpoint: id, reason });
    } else log.info('endpoint back from ejection', { upstream: this.name, endpoint: id, reason });
    this.refresh();
  }

  /**
   * Active health checking, when configured: a failing endpoint leaves rotation after
   * `unhealthy_threshold` failures and returns after `healthy_threshold` passes; any passing check
   * also ends an outlier ejection (Envoy's `successful_active_health_check_uneject_host`).
   */
  private createHealthChecker(random: () => number): ActiveHealthChecker | undefined {
    const settings = this.config.health_check;
    if (settings === undefined) return undefined;
    const kind = healthCheckKind(settings.kind);
    if (kind === undefined) throw new Error(`unknown health check kind "${settings.kind}"`); // config validation prevents this
    return new ActiveHealthChecker(settings, kind.create(settings.config), {
      random,
      checked: (id, verdict, state, changed) => {
        if (!verdict.healthy) this.metrics.healthCheckFailures.inc();
        else if (this.outliers.isEjected(id)) this.outliers.uneject(id, 'active health check passed');
        if (!changed || !this.endpoints.setActiveHealth(id, state, this.now())) return;
        if (state !== 'unknown') log.info(`endpoint ${state} by active health check`, { upstream: this.name, endpoint: id, detail: verdict.detail });
        this.refresh();
      },
    });
  }

  private publish(picker: Picker<Endpoint>): void {
    this.picker = picker;
    const waiters = this.pickerWaiters;
    this.pickerWaiters = [];
    for (const wake of waiters) wake();
  }
}
