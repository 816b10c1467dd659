import type { TandemError } from './errors.js';

export type CancelListener = (reason: TandemError) => void;

/**
 * Signals that nobody wants the result of an exchange any more (the downstream client went away, or a
 * deadline passed). Lighter than AbortController on the hot path: a plain listener list, no EventTarget.
 */
export class Cancellation {
  private listeners: CancelListener[] = [];
  private cancelReason: TandemError | undefined;

  get reason(): TandemError | undefined {
    return this.cancelReason;
  }

  get cancelled(): boolean {
    return this.cancelReason !== undefined;
  }

  /**
   * Calls `listener` once on cancellation (at once if already cancelled).
   * @returns a function that removes the listener; call it when the guarded work finishes.
   */
  onCancel(listener: CancelListener): () => void {
    if (this.cancelReason !== undefined) {
      listener(this.cancelReason);
      return noop;
    }
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }

  /**
   * A cancellation that fires with this one and can also fire alone: one attempt of a request, which
   * a per-try timeout ends without ending the request. The link lives as long as this object.
   */
  child(): Cancellation {
    const child = new Cancellation();
    this.onCancel((reason) => child.cancel(reason));
    return child;
  }

  cancel(reason: TandemError): void {
    if (this.cancelReason !== undefined) return;
    this.cancelReason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener(reason);
  }
}

function noop(): void {}
