import { isSuccess } from '../cluster/outcome.js';
import type { TandemError } from '../core/errors.js';
import { SlidingWindow, type WindowSummary } from './slidingWindow.js';

/**
 * Recent traffic of one upstream, for `GET /stats` and `tandem stat`: the requests clients got
 * answers to (from the edge stage, whichever listener took them), every attempt per endpoint, and
 * retries and circuit-breaker overflows as events.
 */
export class UpstreamStats {
  readonly requests: SlidingWindow;
  readonly retries: SlidingWindow;
  readonly overflows: SlidingWindow;
  private readonly endpoints = new Map<string, SlidingWindow>();

  constructor(private readonly now: () => number = Date.now) {
    this.requests = new SlidingWindow(now);
    this.retries = new SlidingWindow(now);
    this.overflows = new SlidingWindow(now);
  }

  /** A request answered to its client, with `status` (and `grpcStatus`), `latencyMs` after it arrived. */
  requestFinished(status: number, grpcStatus: number | undefined, latencyMs: number): void {
    this.requests.record(isSuccess(status, grpcStatus, undefined), latencyMs);
  }

  /** An attempt to `endpoint` ended. */
  attemptFinished(endpoint: string, status: number | undefined, grpcStatus: number | undefined, error: TandemError | undefined, latencyMs: number): void {
    let window = this.endpoints.get(endpoint);
    if (window === undefined) this.endpoints.set(endpoint, (window = new SlidingWindow(this.now)));
    window.record(isSuccess(status, grpcStatus, error), latencyMs);
  }

  endpoint(id: string, windowS: number): WindowSummary | undefined {
    return this.endpoints.get(id)?.summary(windowS);
  }

  /** Forgets endpoints discovery removed. */
  keepOnly(current: ReadonlySet<string>): void {
    for (const id of [...this.endpoints.keys()]) if (!current.has(id)) this.endpoints.delete(id);
  }
}
