import { ErrorCode, TandemError } from '../core/errors.js';
import type { CircuitBreakerConfig } from './circuitBreakerConfig.js';

/** The resource a request overflowed, as named in config, metrics and `/clusters`. */
export type LimitName = 'max_connections' | 'max_pending_requests' | 'max_requests' | 'max_retries';

export interface OverflowCounter {
  inc(labels: { limit: LimitName }): void;
}

/**
 * The live counts behind an upstream's circuit-breaker limits, shared by everything that spends them:
 * the limits layer (requests), the retry layer (retries) and the connection pools (connections,
 * pending requests). Counting is all it does; each spender decides what to do at the limit.
 */
export class ResourceLimits {
  /** For what has no limits of its own (the local app behind the inbound listener): counts, never refuses. */
  static readonly UNLIMITED: CircuitBreakerConfig = Object.freeze({
    max_connections: Infinity,
    max_pending_requests: Infinity,
    max_requests: Infinity,
    max_retries: Infinity,
  });

  connections = 0;
  pendingRequests = 0;
  requests = 0;
  retries = 0;
  readonly overflows: Record<LimitName, number> = { max_connections: 0, max_pending_requests: 0, max_requests: 0, max_retries: 0 };
  private connectionWaiters: Array<() => void> = [];

  constructor(
    readonly upstream: string,
    readonly config: CircuitBreakerConfig,
    private readonly counter: OverflowCounter = { inc: () => undefined },
  ) {}

  /** Takes a request slot, or counts the overflow and returns false. */
  tryRequest(): boolean {
    if (this.requests >= this.config.max_requests) return this.overflow('max_requests');
    this.requests++;
    return true;
  }

  releaseRequest(): void {
    this.requests--;
  }

  tryPending(): boolean {
    if (this.pendingRequests >= this.config.max_pending_requests) return this.overflow('max_pending_requests');
    this.pendingRequests++;
    return true;
  }

  releasePending(): void {
    this.pendingRequests--;
  }

  tryRetry(): boolean {
    if (this.retries >= this.config.max_retries) return this.overflow('max_retries');
    this.retries++;
    return true;
  }

  releaseRetry(): void {
    this.retries--;
  }

  /** Whether another connection may open now. At the limit requests wait (Envoy: pending), they do not fail. */
  tryConnection(): boolean {
    if (this.connections >= this.config.max_connections) return this.overflow('max_connections');
    this.connections++;
    return true;
  }

  /** A connection closed: a pool waiting for room anywhere in the upstream may open one now. */
  releaseConnection(): void {
    this.connections--;
    const waiters = this.connectionWaiters;
    if (waiters.length === 0) return;
    this.connectionWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Calls `wake` once, the next time a connection of this upstream closes. */
  whenConnectionFreed(wake: () => void): void {
    if (!this.connectionWaiters.includes(wake)) this.connectionWaiters.push(wake);
  }

  /** The error a request over `limit` fails with. */
  overflowError(limit: LimitName): TandemError {
    return new TandemError(ErrorCode.Overflow, `upstream "${this.upstream}": ${limit} (${this.config[limit]}) reached`, { upstream: this.upstream });
  }

  /** For `/clusters`: each limit with its current use. */
  toJSON(): object {
    const { config } = this;
    return {
      connections: { used: this.connections, limit: config.max_connections, overflows: this.overflows.max_connections },
      pending_requests: { used: this.pendingRequests, limit: config.max_pending_requests, overflows: this.overflows.max_pending_requests },
      requests: { used: this.requests, limit: config.max_requests, overflows: this.overflows.max_requests },
      retries: { used: this.retries, limit: config.max_retries, overflows: this.overflows.max_retries },
    };
  }

  private overflow(limit: LimitName): false {
    this.overflows[limit]++;
    this.counter.inc({ limit });
    return false;
  }
}
