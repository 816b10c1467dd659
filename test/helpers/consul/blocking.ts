import type { ServerResponse } from 'node:http';

interface Held {
  readonly minIndex: number;
  readonly currentIndex: () => number;
  readonly answer: () => void;
  readonly timer: NodeJS.Timeout;
  done: boolean;
}

/**
 * Reads parked by `?index=N` (`blockingquery.Query`): each is answered as soon as its result index
 * passes N, when its wait runs out, or at once on a snapshot restore (the abandoned state store);
 * a client that hangs up is forgotten without an answer.
 */
export class HeldQueries {
  private readonly held = new Set<Held>();
  private mostHeld = 0;

  hold(res: ServerResponse, minIndex: number, timeoutMs: number, currentIndex: () => number, answer: () => void): void {
    const entry: Held = {
      minIndex,
      currentIndex,
      answer,
      timer: setTimeout(() => this.finish(entry), timeoutMs).unref(),
      done: false,
    };
    this.held.add(entry);
    this.mostHeld = Math.max(this.mostHeld, this.held.size);
    res.once('close', () => this.forget(entry));
  }

  /** Re-checks every parked read after a write. */
  wake(): void {
    for (const entry of [...this.held]) if (entry.currentIndex() > entry.minIndex) this.finish(entry);
  }

  /** Answers every parked read now, whatever its index says. */
  releaseAll(): void {
    for (const entry of [...this.held]) this.finish(entry);
  }

  /** Forgets every parked read without answering; used when their sockets are being destroyed. */
  dropAll(): void {
    for (const entry of [...this.held]) this.forget(entry);
  }

  count(): number {
    return this.held.size;
  }

  max(): number {
    return this.mostHeld;
  }

  private finish(entry: Held): void {
    if (entry.done) return;
    this.forget(entry);
    entry.answer();
  }

  private forget(entry: Held): void {
    entry.done = true;
    clearTimeout(entry.timer);
    this.held.delete(entry);
  }
}
