import type { TandemError } from '../core/errors.js';
import type { RequestContext } from '../http/context.js';

/**
 * The requests one direction is serving, from the moment the edge stage takes them until the client
 * has the whole answer: what a drain waits for, and what it cuts when `drain.timeout` passes.
 */
export class InFlight {
  private readonly active = new Set<RequestContext>();
  private idleWaiters: Array<() => void> = [];
  private lastChangeAt = performance.now();

  get count(): number {
    return this.active.size;
  }

  /** `performance.now()` when a request last started or finished. */
  get lastChange(): number {
    return this.lastChangeAt;
  }

  begin(context: RequestContext): void {
    this.active.add(context);
    this.lastChangeAt = performance.now();
  }

  end(context: RequestContext): void {
    if (!this.active.delete(context)) return;
    this.lastChangeAt = performance.now();
    if (this.active.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once nothing is in flight (at once if nothing is). */
  whenIdle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Resolves once nothing has been in flight for `quietMs`: the app behind an outbound listener has
   * stopped calling, not merely paused between two calls.
   */
  async whenQuiet(quietMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.whenIdle();
      const left = this.lastChangeAt + quietMs - performance.now();
      if (this.active.size === 0 && left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(left, 1));
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  /** Ends every request in flight with `error`; returns how many there were. */
  cut(error: TandemError): number {
    const contexts = [...this.active];
    for (const context of contexts) context.cancellation.cancel(error);
    return contexts.length;
  }
}
