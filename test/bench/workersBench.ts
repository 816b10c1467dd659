/**
 * What `workers: N` costs and how it spreads connections (`node dist/test/bench/workersBench.js`, part
 * of `npm run bench`): HTTP/1.1 at a fixed rate over 100 keep-alive connections through Tandem with
 * `workers: 1` and with `workers: 2`, rounds alternating, medians reported. CPU per request is the
 * whole process tree's (primary and workers); the spread is the primary's `/workers` read mid-run.
 * This machine has 2 cores and the load generator needs one, so throughput scaling is not measured:
 * the question is what the same work costs split over two processes.
 *
 * Settings: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RATE (default 2000
 * here), BENCH_ROUNDS (default 3). Results in docs/benchmarks.md.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { setLogLevel } from '../../sidecar/core/log.js';
import { fmt } from './format.js';
import { installCleanup, killAll, sampleProc } from './processes.js';
import { log, positiveNumber, runBenchmark, sidecarRunSettings, startSidecar, type Sidecar } from './sidecarRuns.js';
import type { LoadResult } from './stats.js';
import { startBackend } from './targets.js';
import { runWorker } from './workers.js';

const CONNECTIONS = 100;
const settings = { ...sidecarRunSettings(), rate: positiveNumber('BENCH_RATE', 2000) };

/** CPU time of `pid` and every descendant alive now, in microseconds. */
function treeCpuMicros(pid: number): number {
  let total = sampleProc(pid).cpuMicros;
  let children: string[];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((child) => child !== '');
  } catch {
    return total;
  }
  for (const child of children) total += treeCpuMicros(Number(child));
  return total;
}

interface WorkersRun {
  readonly workers: number;
  readonly load: LoadResult;
  readonly microsPerRequest: number;
  /** Open connections per worker, read mid-run (one entry with a single process). */
  readonly spread: readonly number[];
}

async function openConnections(sidecar: Sidecar, workers: number): Promise<number[]> {
  if (workers === 1) return [CONNECTIONS];
  const response = await fetch(`http://127.0.0.1:${sidecar.ports.get('admin')}/workers`);
  const body = (await response.json()) as { workers: Array<{ open_connections: Record<string, number> }> };
  return body.workers.map((worker) => worker.open_connections['outbound.echo'] ?? 0);
}

async function measureWorkers(sidecar: Sidecar, workers: number): Promise<WorkersRun> {
  const port = sidecar.ports.get('outbound.echo') as number;
  const args = (seconds: number): string[] => [String(port), String(settings.rate), String(seconds), String(CONNECTIONS), 'h1'];
  if (settings.warmupS > 0) await runWorker('rate worker', 'rateWorker.js', args(settings.warmupS), settings.warmupS);
  const before = treeCpuMicros(sidecar.child.pid);
  const spread = new Promise<number[]>((resolve) => setTimeout(() => resolve(openConnections(sidecar, workers)), (settings.durationS * 1000) / 2));
  const load = await runWorker('rate worker', 'rateWorker.js', args(settings.durationS), settings.durationS);
  const microsPerRequest = (treeCpuMicros(sidecar.child.pid) - before) / Math.max(1, load.completed + load.failed);
  const run = { workers, load, microsPerRequest, spread: await spread };
  log(`workers: ${workers}: p50 ${fmt(load.p50Ms, 3)} ms, p99 ${fmt(load.p99Ms, 3)} ms, ${fmt(microsPerRequest, 1)} µs CPU/req, connections per worker ${run.spread.join('/')}, ${load.failed} failed`);
  return run;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function main(): Promise<number> {
  setLogLevel('warn');
  installCleanup(() => {
    killAll();
    return Promise.resolve();
  });
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-workers-'));
  try {
    const backend = await startBackend('h1');
    writeFileSync(join(dir, 'endpoints.yaml'), stringify({ services: { echo: [`127.0.0.1:${backend.port}`] } }));
    const runs: WorkersRun[] = [];
    for (let round = 1; round <= settings.rounds; round++) {
      for (const workers of [1, 2]) {
        log(`round ${round}/${settings.rounds}, workers: ${workers}`);
        const sidecar = await startSidecar(dir, `workers-${workers}`, { workers, discovery: { static: { file: './endpoints.yaml' } }, upstreams: [{ name: 'echo', protocol: 'http1', local_port: 0 }] }, ['outbound.echo']);
        runs.push(await measureWorkers(sidecar, workers));
        await sidecar.child.stop();
      }
    }
    await backend.child.stop();
    const of = (workers: number): WorkersRun[] => runs.filter((run) => run.workers === workers);
    const one = median(of(1).map((run) => run.microsPerRequest));
    const lines = [
      `## workers: 1 and 2, ${new Date().toISOString()}`,
      '',
      `HTTP/1.1 GET at ${settings.rate} req/s over ${CONNECTIONS} keep-alive connections, ${settings.durationS} s measured after ${settings.warmupS} s warm-up, median of ${settings.rounds} rounds (alternating).`,
      '',
      '| workers | p50 ms | p99 ms | CPU µs/req (all processes) | vs workers: 1 | connections per worker (mid-run, each round) | failed |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...[1, 2].map((workers) => {
        const these = of(workers);
        const cpu = median(these.map((run) => run.microsPerRequest));
        return `| ${workers} | ${fmt(median(these.map((run) => run.load.p50Ms)), 3)} | ${fmt(median(these.map((run) => run.load.p99Ms)), 3)} | ${fmt(cpu, 1)} | ${fmt(cpu / one, 2)}× | ${these.map((run) => run.spread.join('/')).join(', ')} | ${these.reduce((total, run) => total + run.load.failed, 0)} |`;
      }),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return runs.some((run) => run.load.failed > 0) ? 1 : 0;
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
