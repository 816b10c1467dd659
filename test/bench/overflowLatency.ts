/**
 * The overflow scenario of `npm run bench` (id `overflow`): how fast Tandem answers a request that
 * overflows `circuit_breaker.max_requests`, beside how fast a bare Node server refuses the same
 * request itself. Over HTTP/1.1 and gRPC. This is where the "answered at once" latency bound lives;
 * test/integration/resilience/limits.test.ts checks the behaviour (every overflow answered while
 * the admitted requests are still held) without timing it. What is measured and how: docs/benchmarks.md.
 */
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { fmt } from './format.js';
import type { OverflowResult } from './overflowWorker.js';
import { outsideCpuPercent, runToCompletion, sampleMachine, sampleProc } from './processes.js';
import { BENCH_DIST, startBackend, startTandem, type Running } from './targets.js';

export const OVERFLOW_SCENARIO_ID = 'overflow';

/** Slots taken by held requests, as in limits.test.ts. */
const MAX_REQUESTS = 10;
/**
 * The bounds limits.test.ts used to hold Tandem's one-at-a-time overflow answers to: p90 under 5 ms,
 * and the slowest of its 20 probes (about a p95) under 25 ms, here the p99 of many.
 */
const P90_TARGET_MS = 5;
const P99_TARGET_MS = 25;

export interface OverflowSettings {
  readonly probes: number;
  readonly warmup: number;
}

/** Environment: BENCH_OVERFLOW_PROBES (2000 measured per protocol and target; a tenth as many warm-up). */
export function readOverflowSettings(): OverflowSettings {
  const raw = process.env['BENCH_OVERFLOW_PROBES'];
  const probes = raw === undefined || raw === '' ? 2_000 : Number(raw);
  if (!Number.isInteger(probes) || probes < 1) throw new Error(`BENCH_OVERFLOW_PROBES: expected a positive integer, got "${raw}"`);
  return { probes, warmup: Math.max(20, Math.round(probes / 10)) };
}

type Protocol = 'h1' | 'grpc';
type Target = 'direct' | 'tandem';

export interface OverflowRun {
  readonly protocol: Protocol;
  readonly target: Target;
  readonly result: OverflowResult | null;
  /** CPU of processes outside the benchmark during the run, in % of the machine. */
  readonly otherCpuPercent: number;
  readonly loadavgBefore: readonly number[];
  readonly loadavgAfter: readonly number[];
  readonly error: string | null;
}

export interface OverflowComparison {
  readonly id: string;
  readonly settings: OverflowSettings;
  readonly runs: OverflowRun[];
  readonly verdicts: Array<{ protocol: Protocol; p90Ms: number; p99Ms: number; p90Met: boolean; p99Met: boolean }>;
  readonly errors: string[];
}

async function probeRun(protocol: Protocol, target: Target, port: number, settings: OverflowSettings): Promise<OverflowResult> {
  const args = [protocol, String(port), String(MAX_REQUESTS), String(settings.warmup), String(settings.probes), target];
  const timeoutMs = 30_000 + (settings.probes + settings.warmup) * 50;
  const run = await runToCompletion('overflow worker', process.execPath, [join(BENCH_DIST, 'overflowWorker.js'), ...args], timeoutMs);
  const line = /^result (.*)$/m.exec(run.stdout);
  if (run.code !== 0 || line === null) throw new Error(`overflow worker exited with ${run.code}\n${run.stderr.slice(-2_000)}`);
  return JSON.parse(line[1] as string) as OverflowResult;
}

/**
 * Per protocol: a backend that holds `/hold` and refuses everything else at once, and a Tandem in
 * front of it with `max_requests: 10`. Each target gets its own worker run (10 held requests, then
 * one-at-a-time probes); a fresh backend and Tandem per protocol, so no run inherits another's holds.
 */
export async function runOverflowComparison(workDir: string, settings: OverflowSettings, log: (message: string) => void): Promise<OverflowComparison> {
  const comparison: OverflowComparison = { id: OVERFLOW_SCENARIO_ID, settings, runs: [], verdicts: [], errors: [] };
  for (const protocol of ['h1', 'grpc'] as const) {
    const started: Running[] = [];
    try {
      const backend = await startBackend(protocol === 'h1' ? 'hold-h1' : 'hold-grpc');
      started.push(backend);
      const tandem = await startTandem(join(workDir, `${OVERFLOW_SCENARIO_ID}-${protocol}`), protocol === 'h1' ? 'http1' : 'grpc', backend.port, [], {
        circuit_breaker: { max_requests: MAX_REQUESTS },
      });
      started.push(tandem);
      for (const target of ['direct', 'tandem'] as const) {
        const port = target === 'direct' ? backend.port : tandem.port;
        const loadavgBefore = loadavg();
        log(`${OVERFLOW_SCENARIO_ID} / ${protocol} / ${target}: ${MAX_REQUESTS} held, ${settings.warmup} warm-up, ${settings.probes} measured one at a time (port ${port})`);
        try {
          const pids = started.map((running) => running.child.pid);
          const [machineBefore, procsBefore] = [sampleMachine(), pids.map(sampleProc)];
          const result = await probeRun(protocol, target, port, settings);
          const [machineAfter, procsAfter] = [sampleMachine(), pids.map(sampleProc)];
          // Ours: backend, Tandem, the (reaped) worker and this harness.
          const tracked = procsAfter.reduce((sum, proc, i) => sum + proc.cpuMicros - (procsBefore[i]?.cpuMicros ?? 0), 0);
          const otherCpuPercent = outsideCpuPercent(machineBefore, machineAfter, tracked);
          comparison.runs.push({ protocol, target, result, otherCpuPercent, loadavgBefore, loadavgAfter: loadavg(), error: null });
          log(
            `${OVERFLOW_SCENARIO_ID} / ${protocol} / ${target}: p50 ${fmt(result.p50Ms, 3)} ms, p90 ${fmt(result.p90Ms, 3)} ms, ` +
              `max ${fmt(result.maxMs, 3)} ms, ${result.failed} unexpected answers, ${fmt(otherCpuPercent, 0)}% CPU outside the benchmark`,
          );
          if (result.failed > 0) comparison.errors.push(`${protocol} / ${target}: ${result.failed} unexpected answers ${JSON.stringify(result.failures)}`);
          if (target === 'tandem') {
            comparison.verdicts.push({ protocol, p90Ms: result.p90Ms, p99Ms: result.p99Ms, p90Met: result.p90Ms < P90_TARGET_MS, p99Met: result.p99Ms < P99_TARGET_MS });
          }
        } catch (error) {
          const message = (error as Error).message;
          comparison.errors.push(`${protocol} / ${target}: ${message}`);
          comparison.runs.push({ protocol, target, result: null, otherCpuPercent: NaN, loadavgBefore, loadavgAfter: loadavg(), error: message });
          log(`${OVERFLOW_SCENARIO_ID} / ${protocol} / ${target}: FAILED: ${message}`);
        }
      }
    } catch (error) {
      comparison.errors.push(`${protocol}: ${(error as Error).message}`);
      log(`${OVERFLOW_SCENARIO_ID} / ${protocol}: FAILED: ${(error as Error).message}`);
    } finally {
      for (const running of started.reverse()) await running.child.stop(3_000);
    }
  }
  return comparison;
}

export function overflowMarkdown(comparison: OverflowComparison): string {
  const s = comparison.settings;
  const lines = [
    `### Overflow answers (\`${OVERFLOW_SCENARIO_ID}\`): one request at a time while every \`max_requests\` slot is held`,
    '',
    `- ${MAX_REQUESTS} requests held at the backend, then ${s.warmup} unmeasured and ${s.probes.toLocaleString('en-US')} measured requests, each written on a keep-alive ` +
      'connection after the previous reply arrived (overflowWorker.ts, own process), timed from the write to the whole reply',
    `- direct: the backend refuses each itself (HTTP/1.1 503, gRPC trailers-only grpc-status 14); tandem: \`max_requests: ${MAX_REQUESTS}\` is full, so Tandem answers TANDEM_OVERFLOW without touching the backend`,
    '',
    '| Protocol | Target | p50 ms | p90 ms | p99 ms | max ms | mean ms | p50 ÷ direct | p90 ÷ direct | unexpected answers | other CPU % |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const run of comparison.runs) {
    if (run.result === null) {
      lines.push(`| ${run.protocol} | ${run.target} | **error** ${(run.error ?? '').split('\n')[0]?.replaceAll('|', '\\|') ?? ''} | | | | | | | | |`);
      continue;
    }
    const r = run.result;
    const direct = comparison.runs.find((other) => other.protocol === run.protocol && other.target === 'direct')?.result;
    const ratio = (value: number, base: number | undefined): string => (run.target === 'direct' || base === undefined || base === 0 ? '—' : fmt(value / base, 2));
    lines.push(
      `| ${run.protocol} | ${run.target} | ${fmt(r.p50Ms, 3)} | ${fmt(r.p90Ms, 3)} | ${fmt(r.p99Ms, 3)} | ${fmt(r.maxMs, 3)} | ${fmt(r.meanMs, 3)} | ` +
        `${ratio(r.p50Ms, direct?.p50Ms)} | ${ratio(r.p90Ms, direct?.p90Ms)} | ${r.failed} | ${fmt(run.otherCpuPercent, 0)} |`,
    );
  }
  for (const error of comparison.errors.filter((e) => !comparison.runs.some((run) => e.startsWith(`${run.protocol} / ${run.target}:`)))) {
    lines.push(`| **error** | ${error.split('\n')[0]?.replaceAll('|', '\\|') ?? ''} | | | | | | | | | |`);
  }
  lines.push('', 'Targets:', '');
  const mark = (met: boolean): string => (met ? 'met' : '**MISSED**');
  for (const v of comparison.verdicts) {
    lines.push(`- ${v.protocol}: Tandem's overflow answer p90 ${fmt(v.p90Ms, 3)} ms (target < ${P90_TARGET_MS} ms: ${mark(v.p90Met)}), p99 ${fmt(v.p99Ms, 3)} ms (target < ${P99_TARGET_MS} ms: ${mark(v.p99Met)})`);
  }
  if (comparison.verdicts.length === 0) lines.push('- no Tandem run completed');
  return lines.join('\n');
}
