/**
 * Memory per idle connection, shared by the edge (`edge.ts`) and memory (`memory.ts`) benchmarks:
 * `idleWorker.js` holds `count` connections of one kind, each having served one request, against a
 * server process, and the server's RSS growth is divided by the count.
 */
import { join } from 'node:path';
import { sampleProc, startChild } from './processes.js';
import { log } from './sidecarRuns.js';
import { BENCH_DIST } from './targets.js';

export type IdleKind = 'h1' | 'h2c' | 'tls';

/** Time for the server to account for what it was sent before RSS is read. */
const SETTLE_MS = 2_000;
/** The most a worker may take to open its connections. */
const OPEN_TIMEOUT_MS = 300_000;

export interface IdleCost {
  /** RSS growth over the connections held, in KiB each. */
  readonly kibEach: number;
  readonly held: number;
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** RSS growth per connection of the server `pid` while `count` idle connections of `kind` are held against `port`. */
export async function idleCost(pid: number, port: number, kind: IdleKind, count: number): Promise<IdleCost> {
  await settle();
  const before = sampleProc(pid).rssBytes;
  const worker = startChild(`idle ${kind}`, process.execPath, [join(BENCH_DIST, 'idleWorker.js'), String(port), kind, String(count)]);
  const line = await worker.waitForLine(/^held (\d+) failed (\d+)$/, OPEN_TIMEOUT_MS);
  await settle();
  const after = sampleProc(pid).rssBytes;
  await worker.stop();
  const held = Number(line[1]);
  if (Number(line[2]) > 0) log(`idle ${kind}: ${line[2]} connections failed`);
  return { kibEach: (after - before) / 1024 / Math.max(held, 1), held };
}
