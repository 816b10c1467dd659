/**
 * Pieces the sidecar-process benchmarks share (`mtls.ts`, `tracing.ts`): Tandem as a process from a
 * configuration, and a fixed-rate gRPC run against a port with the CPU the sidecars spent on it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { fmt } from './format.js';
import { killAll, outsideCpuPercent, sampleMachine, sampleProc, startChild, type Child } from './processes.js';
import type { LoadResult } from './stats.js';
import { BENCH_DIST, TANDEM_MAIN } from './targets.js';
import { runWorker } from './workers.js';

const START_TIMEOUT_MS = 15_000;

export function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!(value > 0)) throw new Error(`${name}: expected a positive number, got "${raw}"`);
  return value;
}

export interface SidecarRunSettings {
  readonly durationS: number;
  readonly warmupS: number;
  readonly rate: number;
  /** Rounds over every target, for benchmarks that report medians (`medianRun`). */
  readonly rounds: number;
}

/** BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RATE (default 1000), BENCH_ROUNDS (default 3). */
export function sidecarRunSettings(): SidecarRunSettings {
  return {
    durationS: positiveNumber('BENCH_DURATION', 10),
    warmupS: process.env['BENCH_WARMUP'] === '0' ? 0 : positiveNumber('BENCH_WARMUP', 3),
    rate: positiveNumber('BENCH_RATE', 1000),
    rounds: Math.round(positiveNumber('BENCH_ROUNDS', 3)),
  };
}

export const log = (line: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

export interface Sidecar {
  readonly child: Child;
  readonly ports: Map<string, number>;
}

/**
 * `tandem sidecar` as a process (`main`: another build's CLI, for comparisons); resolves once `/ready`
 * answers 200 (with mTLS: once it has its certificate).
 */
export async function startSidecar(dir: string, name: string, config: Record<string, unknown>, listeners: readonly string[], main = TANDEM_MAIN): Promise<Sidecar> {
  const configFile = join(dir, `${name}.yaml`);
  writeFileSync(configFile, stringify({ admin: { address: '127.0.0.1', port: 0 }, log: { level: 'info' }, ...config }));
  const watch = pathToFileURL(join(BENCH_DIST, 'parentWatch.js')).href;
  const child = startChild(`tandem(${name})`, process.execPath, ['--import', watch, main, 'sidecar', '-c', configFile]);
  const ports = new Map<string, number>();
  for (const listener of ['admin', ...listeners]) {
    const bound = await child.waitForLine(new RegExp(`listener bound"? listener=${listener.replace('.', '\\.')} address=[\\d.]+:(\\d+)`), START_TIMEOUT_MS);
    ports.set(listener, Number(bound[1]));
  }
  const deadline = Date.now() + START_TIMEOUT_MS;
  while ((await fetch(`http://127.0.0.1:${ports.get('admin')}/ready`).catch(() => undefined))?.status !== 200) {
    if (Date.now() > deadline) throw new Error(`${name} not ready within ${START_TIMEOUT_MS} ms:\n${child.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, ports };
}

export interface Run {
  readonly target: string;
  readonly load: LoadResult;
  /** The sidecars' CPU per request (µs); undefined for the direct run. */
  readonly sidecarsMicrosPerRequest: number | undefined;
  readonly otherCpuPercent: number;
}

/**
 * Warm-up, then a measured fixed-rate run against `port` (over TLS with `tls`), with the sidecars' CPU
 * over the measured part.
 */
export async function measure(settings: SidecarRunSettings, target: string, port: number, sidecars: readonly Sidecar[], tls = false): Promise<Run> {
  log(`${target}: ${settings.warmupS} s warm-up, ${settings.durationS} s at ${settings.rate} req/s (port ${port})`);
  const args = (seconds: number): string[] => [String(port), String(settings.rate), String(seconds), '10', ...(tls ? ['tls'] : [])];
  if (settings.warmupS > 0) await runWorker('rate worker', 'rateWorker.js', args(settings.warmupS), settings.warmupS);
  const before = sidecars.map((sidecar) => sampleProc(sidecar.child.pid));
  const machineBefore = sampleMachine();
  const load = await runWorker('rate worker', 'rateWorker.js', args(settings.durationS), settings.durationS);
  const after = sidecars.map((sidecar) => sampleProc(sidecar.child.pid));
  const sidecarMicros = after.reduce((sum, sample, i) => sum + sample.cpuMicros - (before[i]?.cpuMicros ?? 0), 0);
  const run: Run = {
    target,
    load,
    sidecarsMicrosPerRequest: sidecars.length === 0 ? undefined : sidecarMicros / Math.max(1, load.completed + load.failed),
    otherCpuPercent: outsideCpuPercent(machineBefore, sampleMachine(), sidecarMicros),
  };
  log(`${target}: p50 ${fmt(load.p50Ms, 3)} ms, p99 ${fmt(load.p99Ms, 3)} ms, ${load.failed} failed${run.sidecarsMicrosPerRequest === undefined ? '' : `, sidecars ${fmt(run.sidecarsMicrosPerRequest, 1)} µs CPU/req`}`);
  return run;
}


/** The runs as a markdown table, each against the first (the direct run): latency, what the sidecars add, their CPU. */
export function runsTable(runs: readonly Run[], cpuColumn: string): string[] {
  const direct = runs[0] as Run;
  return [
    `| Target | p50 ms | p99 ms | added p50 ms | added p99 ms | ${cpuColumn} | failed | other CPU % |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...runs.map((run) => {
      const added = run === direct ? ['—', '—'] : [fmt(run.load.p50Ms - direct.load.p50Ms, 3), fmt(run.load.p99Ms - direct.load.p99Ms, 3)];
      return `| ${run.target} | ${fmt(run.load.p50Ms, 3)} | ${fmt(run.load.p99Ms, 3)} | ${added.join(' | ')} | ${run.sidecarsMicrosPerRequest === undefined ? '—' : fmt(run.sidecarsMicrosPerRequest, 1)} | ${run.load.failed} | ${fmt(run.otherCpuPercent, 0)} |`;
    }),
  ];
}

/**
 * One run per target from several rounds of the same targets: the median of each figure over the
 * rounds (failures summed), so one noisy round on a shared machine moves nothing.
 */
export function medianRun(rounds: readonly Run[]): Run {
  const first = rounds[0] as Run;
  const cpu = rounds.map((run) => run.sidecarsMicrosPerRequest);
  return {
    target: first.target,
    load: {
      ...first.load,
      p50Ms: median(rounds.map((run) => run.load.p50Ms)),
      p99Ms: median(rounds.map((run) => run.load.p99Ms)),
      failed: rounds.reduce((sum, run) => sum + run.load.failed, 0),
    },
    sidecarsMicrosPerRequest: cpu.includes(undefined) ? undefined : median(cpu as number[]),
    otherCpuPercent: median(rounds.map((run) => run.otherCpuPercent)),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Runs a benchmark's `main` and exits with its code; on a throw, prints it, stops every child and exits 1. */
export function runBenchmark(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      killAll();
      process.exit(1);
    },
  );
}
