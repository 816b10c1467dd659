/**
 * Earliest-deadline-first scheduling over weights that may change at every pick, as Envoy's
 * `EdfScheduler` does for weighted least-request: each entry's next deadline is its last deadline
 * plus 1/weight, so over time entries are picked in proportion to their weights, smoothly
 * interleaved. A binary heap over typed arrays: O(log n) per pick and no allocation.
 */
export class EdfScheduler {
  /**
   * The weight each entry is advanced by when picked. Callers whose weights change from pick to
   * pick (least request) write it before `advance`: a typed array, because a double passed as an
   * argument to a call V8 does not inline is boxed, i.e. allocated, on every pick.
   */
  readonly weights: Float64Array;
  private readonly heap: Int32Array;
  private readonly deadlines: Float64Array;
  /** Insertion order, to break deadline ties deterministically. */
  private readonly order: Float64Array;
  private sequence = 0;

  /**
   * @param weights initial weights (entries with weight 0 are never picked).
   * @param random random phase per entry, so schedulers built at the same moment elsewhere do not
   *   all start on the same entry.
   */
  constructor(weights: ArrayLike<number>, random: () => number) {
    const n = weights.length;
    this.weights = Float64Array.from(weights);
    this.heap = new Int32Array(n);
    this.deadlines = new Float64Array(n);
    this.order = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.deadlines[i] = random() * period(weights[i] as number);
      this.order[i] = this.sequence++;
      this.heap[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** The entry with the earliest deadline: the one to pick now. Follow with `advance(entry)`. */
  next(): number {
    return this.heap[0] as number;
  }

  /** Schedules the entry just picked (`next()`) for its next turn, 1 / weights[entry] later. */
  advance(entry: number): void {
    this.deadlines[entry] = (this.deadlines[entry] as number) + period(this.weights[entry] as number);
    this.order[entry] = this.sequence++;
    this.siftDown(0);
  }

  private before(a: number, b: number): boolean {
    const da = this.deadlines[a] as number;
    const db = this.deadlines[b] as number;
    return da < db || (da === db && (this.order[a] as number) < (this.order[b] as number));
  }

  private siftDown(start: number): void {
    const { heap } = this;
    const n = heap.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      let child = left;
      if (right < n && this.before(heap[right] as number, heap[left] as number)) child = right;
      if (!this.before(heap[child] as number, heap[i] as number)) return;
      const swap = heap[i] as number;
      heap[i] = heap[child] as number;
      heap[child] = swap;
      i = child;
    }
  }
}

function period(weight: number): number {
  return weight > 0 ? 1 / weight : Infinity;
}
