import { join } from 'node:path';
import { runToCompletion } from './processes.js';
import type { LoadResult } from './stats.js';
import { BENCH_DIST } from './targets.js';

/** Runs one of the Node load generators (a separate process) and reads its `result` line. */
export async function runWorker(name: string, script: string, args: readonly string[], seconds: number): Promise<LoadResult> {
  const run = await runToCompletion(name, process.execPath, [join(BENCH_DIST, script), ...args], (seconds + 30) * 1_000);
  const line = /^result (.*)$/m.exec(run.stdout);
  if (run.code !== 0 || line === null) throw new Error(`${name} exited with ${run.code}\n${run.stderr.slice(-2_000)}`);
  return JSON.parse(line[1] as string) as LoadResult;
}
