import { sleep } from './wait.js';

/**
 * An open-loop load generator: starts `task(i)` at `i / ratePerSecond` seconds from now whether or not
 * earlier tasks have finished, as independent clients would, so a slow or failing upstream cannot slow
 * the offered load down. After an event-loop stall it starts every overdue task at once rather than
 * drifting. Resolves with the results in index order once all `count` have finished.
 */
export async function runOpenLoop<T>(count: number, ratePerSecond: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const intervalMs = 1_000 / ratePerSecond;
  const start = performance.now();
  const started: Array<Promise<T>> = [];
  while (started.length < count) {
    const due = Math.min(count, Math.floor((performance.now() - start) / intervalMs) + 1);
    while (started.length < due) started.push(task(started.length));
    if (started.length < count) await sleep(Math.max(0, start + started.length * intervalMs - performance.now()));
  }
  return Promise.all(started);
}

/**
 * The same open loop, running until stopped: `call(i)` resolves true for a success. `stop()` ends it,
 * waits for the calls in flight and counts them all.
 */
export function openLoopUntilStopped(ratePerSecond: number, call: (index: number) => Promise<boolean>): { stop(): Promise<{ ok: number; failed: number }> } {
  let running = true;
  let ok = 0;
  let failed = 0;
  const calls: Array<Promise<void>> = [];
  const loop = (async () => {
    const start = performance.now();
    for (let i = 0; running; i++) {
      calls.push(call(i).then((success) => void (success ? ok++ : failed++), () => void failed++));
      await sleep(Math.max(0, start + ((i + 1) * 1_000) / ratePerSecond - performance.now()));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await Promise.all(calls);
      return { ok, failed };
    },
  };
}
