import type { Resolver } from '../../discovery/resolver.js';
import type { Balancer, BalancerHelper, PickContext, PickResult, Picker } from '../balancer/balancer.js';
import { balancerFactory } from '../balancer/registry.js';
import type { UpstreamConfig } from '../config/schema.js';
import { ErrorCode, TandemError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { Connector } from '../upstream/connector.js';
import { createPool } from '../upstream/pools.js';
import type { Endpoint } from './endpoint.js';
import { EndpointSet } from './endpointSet.js';

const log = createLogger('cluster');

/** Until discovery first answers, picks wait (linkerd's queue, grpc-js's QueuePicker). */
const QUEUE_PICKER: Picker<Endpoint> = { pick: () => ({ kind: 'queue' }) };

export interface ClusterDependencies {
  readonly resolver: Resolver;
  readonly connector: Connector;
  readonly random?: () => number;
  readonly now?: () => number;
}

/**
 * An upstream: the endpoints discovery reports for it, the balancer choosing among them and the
 * connection pools reaching them. The request path asks it for a pick; everything else here runs on
 * discovery's schedule, not per request.
 */
export class Cluster {
  readonly name: string;
  private readonly endpoints: EndpointSet;
  private readonly balancer: Balancer<Endpoint>;
  private readonly resolver: Resolver;
  private picker: Picker<Endpoint> = QUEUE_PICKER;
  private pickerWaiters: Array<() => void> = [];
  private syncedAt: Date | undefined;
  private lastError: Error | undefined;

  constructor(
    readonly config: UpstreamConfig,
    dependencies: ClusterDependencies,
  ) {
    this.name = config.name;
    this.resolver = dependencies.resolver;
    const random = dependencies.random ?? Math.random;
    const now = dependencies.now ?? (() => performance.now());
    this.endpoints = new EndpointSet((spec) =>
      createPool(config.protocol, {
        upstream: config.name,
        address: spec.address,
        port: spec.port,
        connector: dependencies.connector,
        connectTimeoutMs: config.connect_timeout.ms,
        maxConnections: config.pool.max_connections_per_endpoint,
        maxConcurrentStreams: config.pool.max_concurrent_streams,
        idleTimeoutMs: config.pool.idle_timeout.ms,
      }),
    );
    const factory = balancerFactory(config.lb.policy);
    if (factory === undefined) throw new Error(`unknown balancing policy "${config.lb.policy}"`); // config validation prevents this
    const helper: BalancerHelper<Endpoint> = {
      publish: (picker) => this.publish(picker),
      random: () => random(),
      now: () => now(),
    };
    this.balancer = factory.create(config.lb, helper);
  }

  /** Starts following discovery. */
  start(): void {
    this.resolver.start({
      onUpdate: (update) => {
        const first = this.syncedAt === undefined;
        this.syncedAt = new Date();
        this.lastError = undefined;
        if (this.endpoints.apply(update) || first) this.refreshPicker();
      },
      onError: (error) => {
        this.lastError = error;
        log.warn('discovery error; keeping the last known endpoints', { upstream: this.name, error });
      },
    });
  }

  /** True once discovery has answered at least once. */
  get synced(): boolean {
    return this.syncedAt !== undefined;
  }

  pick(ctx: PickContext): PickResult<Endpoint> {
    return this.picker.pick(ctx);
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

  close(): void {
    this.resolver.stop();
    this.balancer.destroy();
    this.endpoints.close();
    this.publish({ pick: () => ({ kind: 'fail', error: new TandemError(ErrorCode.ShuttingDown, `upstream "${this.name}" is shut down`, { upstream: this.name }) }) });
  }

  /** The `/clusters` view. */
  toJSON(): object {
    return {
      name: this.name,
      service: this.config.service,
      protocol: this.config.protocol,
      lb_policy: this.config.lb.policy,
      synced: this.synced,
      last_sync: this.syncedAt?.toISOString() ?? null,
      discovery_error: this.lastError?.message ?? null,
      endpoints: [...this.endpoints.all()].map((endpoint) => endpoint.toJSON()),
    };
  }

  private refreshPicker(): void {
    const eligible = this.endpoints.eligible();
    if (eligible.length > 0) {
      this.balancer.update(eligible);
      return;
    }
    const error = new TandemError(
      ErrorCode.NoHealthyEndpoint,
      `upstream "${this.name}" has no healthy endpoint (${this.endpoints.size} known, none eligible)`,
      { upstream: this.name },
    );
    this.publish({ pick: () => ({ kind: 'fail', error }) });
  }

  private publish(picker: Picker<Endpoint>): void {
    this.picker = picker;
    const waiters = this.pickerWaiters;
    this.pickerWaiters = [];
    for (const wake of waiters) wake();
  }
}
