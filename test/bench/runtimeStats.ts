import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { Child } from './processes.js';
import { BENCH_DIST } from './targets.js';

/** Node flags that preload runtimeProbe.ts into a proxy under benchmark. */
export function runtimeProbeFlags(): string[] {
  return ['--import', pathToFileURL(join(BENCH_DIST, 'runtimeProbe.js')).href];
}

/** One `runtime-probe` line: totals since the process started, the longest pause since the line before. */
export interface RuntimeSnapshot {
  readonly allocatedBytes: number;
  readonly collections: number;
  readonly majorCollections: number;
  readonly pauseMicros: number;
  readonly longestPauseMicros: number;
  readonly rssBytes: number;
}

/** What V8 did in a proxy over a measured run. */
export interface RuntimeUsage {
  readonly allocatedBytesPerRequest: number;
  readonly collections: number;
  readonly majorCollections: number;
  readonly pauseMs: number;
  readonly longestPauseMs: number;
}

const PROBE_TIMEOUT_MS = 5_000;
const probesAsked = new WeakMap<Child, number>();

/** Asks a probed child for its line (SIGUSR2) and waits for it. */
export async function runtimeSnapshot(child: Child): Promise<RuntimeSnapshot> {
  const seq = (probesAsked.get(child) ?? 0) + 1;
  probesAsked.set(child, seq);
  process.kill(child.pid, 'SIGUSR2');
  const match = await child.waitForLine(new RegExp(`^runtime-probe seq=${seq} (\\{.*\\})$`), PROBE_TIMEOUT_MS);
  return JSON.parse(match[1] as string) as RuntimeSnapshot;
}

export function runtimeUsage(before: RuntimeSnapshot, after: RuntimeSnapshot, requests: number): RuntimeUsage {
  return {
    allocatedBytesPerRequest: requests > 0 ? (after.allocatedBytes - before.allocatedBytes) / requests : NaN,
    collections: after.collections - before.collections,
    majorCollections: after.majorCollections - before.majorCollections,
    pauseMs: (after.pauseMicros - before.pauseMicros) / 1000,
    longestPauseMs: after.longestPauseMicros / 1000,
  };
}
