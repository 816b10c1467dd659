import type { TandemError } from './errors.js';

export type CancelListener = (reason: TandemError) => void;

/**
 * Signals that nobody wants the result of an exchange any more (the downstream client went away, or a
 * deadline passed). Lighter than AbortController on the hot path: a plain listener list, no EventTarget.
 */
export class Cancellation {
  /**
   * Listeners and children, in the order they came; made with the first. A child is told directly,
   * not through a closure of its own (one per attempt of every request).
   */
  private listeners: Array<CancelListener | Cancellation> | undefined;
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
    (this.listeners ??= []).push(listener);
    return () => {
      const index = this.listeners?.indexOf(listener) ?? -1;
      if (index >= 0) this.listeners?.splice(index, 1);
    };
  }

  /**
   * A cancellation that fires with this one and can also fire alone: one attempt of a request, which
   * a per-try timeout ends without ending the request. The link lives as long as this object.
   */
  child(): Cancellation {
    const child = new Cancellation();
    if (this.cancelReason !== undefined) child.cancel(this.cancelReason);
    else (this.listeners ??= []).push(child);
    return child;
  }

  cancel(reason: TandemError): void {
    if (this.cancelReason !== undefined) return;
    this.cancelReason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners === undefined) return;
    for (const listener of listeners) {
      if (typeof listener === 'function') listener(reason);
      else listener.cancel(reason);
    }
  }
}

function noop(): void {}
