/**
 * The policy comparison of `npm run bench` (scenario id `policies`): the same gRPC load through one
 * Tandem upstream over three grpc-js backends, one of which answers 50 ms late, once per balancing
 * policy. Reports per policy p50, p99 and the share of calls the slow backend served, side by side.
 * What is measured and how: docs/benchmarks.md.
 */
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { setup } from '../../sidecar/setup.js';
import { registeredBalancers } from '../../sidecar/balancer/registry.js';
import { fmt } from './format.js';
import { probeGrpc } from './probes.js';
import { outsideCpuPercent, runToCompletion, sampleMachine, sampleProc } from './processes.js';
import type { LoadResult } from './stats.js';
import { BENCH_DIST, startBackend, startTandem, type Running } from './targets.js';

setup(); // the built-in plugins, as the CLI registers them

export const POLICY_SCENARIO_ID = 'policies';

/** The policies the issue names, in this order; any other registered policy follows. */
const FIRST_POLICIES = ['least_request', 'peak_ewma', 'round_robin', 'random'];
const HASH_HEADER = 'x-user-id';

export interface PolicySettings {
  /** Measured calls per policy, and calls of the unmeasured warm-up before them. */
  readonly calls: number;
  readonly warmupCalls: number;
  /** Calls in flight at all times (closed loop). */
  readonly concurrency: number;
  /** h2c connections from the load generator to Tandem. */
  readonly connections: number;
  /** What the slow backend adds to every call. */
  readonly slowDelayMs: number;
  /** Distinct hash-header values for hashing policies (`user-0` … `user-<keys − 1>`). */
  readonly keys: number;
}

function envInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}: expected a non-negative integer, got "${raw}"`);
  return value;
}

/** Environment: BENCH_POLICY_CALLS (3000), BENCH_POLICY_CONCURRENCY (20), BENCH_POLICY_SLOW_MS (50). */
export function readPolicySettings(): PolicySettings {
  const calls = Math.max(1, envInteger('BENCH_POLICY_CALLS', 3_000));
  return {
    calls,
    warmupCalls: Math.max(100, Math.round(calls / 6)),
    concurrency: Math.max(1, envInteger('BENCH_POLICY_CONCURRENCY', 20)),
    connections: 4,
    slowDelayMs: envInteger('BENCH_POLICY_SLOW_MS', 50),
    keys: 1_000,
  };
}

export interface PolicyRun {
  readonly policy: string;
  /** What was added to the upstream's configuration. */
  readonly upstream: Readonly<Record<string, unknown>>;
  readonly load: LoadResult | null;
  /** Calls each backend received during the measured run; index 0 is the slow one. */
  readonly served: readonly number[];
  readonly slowShare: number;
  /** Tandem's CPU (utime + stime) per measured call, and what processes outside the benchmark used, in % of the machine. */
  readonly tandemCpuMicrosPerCall: number;
  readonly otherCpuPercent: number;
  readonly loadavgBefore: readonly number[];
  readonly loadavgAfter: readonly number[];
  readonly error: string | null;
}

export interface PolicyComparison {
  readonly id: string;
  readonly title: string;
  readonly settings: PolicySettings;
  readonly backends: Array<{ readonly port: number; readonly delayMs: number }>;
  readonly runs: PolicyRun[];
  readonly errors: string[];
}

/** Reads a backend's served-call counter: SIGUSR2, then its `served <n> <calls>` line. */
class ServedCounter {
  private reads = 0;
  constructor(private readonly backend: Running) {}

  async read(): Promise<number> {
    const n = ++this.reads;
    process.kill(this.backend.child.pid, 'SIGUSR2');
    const match = await this.backend.child.waitForLine(new RegExp(`^served ${n} (\\d+)$`), 5_000);
    return Number(match[1]);
  }
}

function policiesToRun(): Array<{ name: string; usesHashKey: boolean }> {
  const registered = registeredBalancers();
  const first = FIRST_POLICIES.flatMap((name) => registered.filter((f) => f.name === name));
  return [...first, ...registered.filter((f) => !FIRST_POLICIES.includes(f.name))].map((f) => ({ name: f.name, usesHashKey: f.usesHashKey }));
}

async function closedLoop(port: number, calls: number, settings: PolicySettings, hashed: boolean): Promise<LoadResult> {
  const args = [String(port), String(calls), String(settings.concurrency), String(settings.connections)];
  if (hashed) args.push(HASH_HEADER, String(settings.keys));
  // Bounded: even if every call went to the slow backend it would take calls / concurrency × delay.
  const timeoutMs = 30_000 + Math.ceil(calls / settings.concurrency) * (settings.slowDelayMs + 20);
  const run = await runToCompletion('closed-loop worker', process.execPath, [join(BENCH_DIST, 'closedLoopWorker.js'), ...args], timeoutMs);
  const line = /^result (.*)$/m.exec(run.stdout);
  if (run.code !== 0 || line === null) throw new Error(`closed-loop worker exited with ${run.code}\n${run.stderr.slice(-2_000)}`);
  return JSON.parse(line[1] as string) as LoadResult;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the three backends once, then per policy: a fresh Tandem (so no policy inherits another's
 * state or connections), a probe, a warm-up, and the measured run between two reads of the counters.
 */
export async function runPolicyComparison(workDir: string, settings: PolicySettings, log: (message: string) => void): Promise<PolicyComparison> {
  const result: PolicyComparison = {
    id: POLICY_SCENARIO_ID,
    title: `gRPC unary through one upstream over 3 backends, one ${settings.slowDelayMs} ms slower, per balancing policy`,
    settings,
    backends: [],
    runs: [],
    errors: [],
  };
  const started: Running[] = [];
  try {
    for (const delayMs of [settings.slowDelayMs, 0, 0]) {
      const backend = await startBackend('grpc', delayMs);
      started.push(backend);
      result.backends.push({ port: backend.port, delayMs });
    }
    const counters = started.map((backend) => new ServedCounter(backend));
    for (const { name, usesHashKey } of policiesToRun()) {
      const upstream: Record<string, unknown> = { lb: { policy: name } };
      if (usesHashKey) upstream['hash_policy'] = [{ header: HASH_HEADER }];
      const loadavgBefore = loadavg();
      let tandem: Running | undefined;
      try {
        log(`${POLICY_SCENARIO_ID} / ${name}: probe, ${settings.warmupCalls} warm-up calls, ${settings.calls} measured at concurrency ${settings.concurrency}`);
        tandem = await startTandem(join(workDir, `${POLICY_SCENARIO_ID}-${name}`), 'grpc', started.map((b) => b.port), [], upstream);
        await probeGrpc(tandem.port);
        await closedLoop(tandem.port, settings.warmupCalls, settings, usesHashKey);
        await sleep(300);
        const pids = [tandem.child.pid, ...started.map((b) => b.child.pid)];
        const before = await Promise.all(counters.map((c) => c.read()));
        const [machineBefore, procsBefore] = [sampleMachine(), pids.map(sampleProc)];
        const load = await closedLoop(tandem.port, settings.calls, settings, usesHashKey);
        const [machineAfter, procsAfter] = [sampleMachine(), pids.map(sampleProc)];
        const after = await Promise.all(counters.map((c) => c.read()));
        const cpu = procsAfter.map((p, i) => p.cpuMicros - (procsBefore[i]?.cpuMicros ?? 0));
        // Ours: Tandem, the backends, the (reaped) load generator and this harness.
        const otherCpuPercent = outsideCpuPercent(machineBefore, machineAfter, cpu.reduce((sum, micros) => sum + micros, 0));
        const tandemCpuMicrosPerCall = (cpu[0] ?? NaN) / Math.max(1, load.completed);
        const served = after.map((count, i) => count - (before[i] as number));
        const total = served.reduce((sum, n) => sum + n, 0);
        const slowShare = total > 0 ? (served[0] as number) / total : NaN;
        result.runs.push({ policy: name, upstream, load, served, slowShare, tandemCpuMicrosPerCall, otherCpuPercent, loadavgBefore, loadavgAfter: loadavg(), error: null });
        log(
          `${POLICY_SCENARIO_ID} / ${name}: p50 ${fmt(load.p50Ms, 3)} ms, p99 ${fmt(load.p99Ms, 3)} ms, ${fmt(load.reqPerSec, 0)} calls/s, ` +
            `${load.failed} failed, slow backend served ${fmt(100 * slowShare, 1)} % (${served.join(' / ')}), ${fmt(otherCpuPercent, 0)}% CPU outside the benchmark`,
        );
      } catch (error) {
        const message = (error as Error).message;
        result.errors.push(`${name}: ${message}`);
        result.runs.push({ policy: name, upstream, load: null, served: [], slowShare: NaN, tandemCpuMicrosPerCall: NaN, otherCpuPercent: NaN, loadavgBefore, loadavgAfter: loadavg(), error: message });
        log(`${POLICY_SCENARIO_ID} / ${name}: FAILED: ${message}`);
      } finally {
        await tandem?.child.stop(5_000);
      }
    }
  } catch (error) {
    result.errors.push((error as Error).message);
    log(`${POLICY_SCENARIO_ID}: FAILED: ${(error as Error).message}`);
  } finally {
    for (const backend of started) await backend.child.stop(3_000);
  }
  return result;
}

export function policyMarkdown(comparison: PolicyComparison): string {
  const s = comparison.settings;
  const lines = [
    `### Policy comparison (\`${POLICY_SCENARIO_ID}\`): ${comparison.title}`,
    '',
    `- load: ${s.calls.toLocaleString('en-US')} gRPC unary calls per policy, ${s.concurrency} in flight at all times (closed loop, closedLoopWorker.ts, ` +
      `${s.connections} h2c connections), after ${s.warmupCalls} unmeasured warm-up calls; a fresh Tandem per policy`,
    `- backends: 3 grpc-js echo servers (own processes); the first adds ${s.slowDelayMs} ms to every call. An even split gives it 33.3 %`,
    `- hashing policies get \`hash_policy: [{ header: ${HASH_HEADER} }]\` and calls carry ${s.keys} distinct keys`,
    '',
    '| Policy | Calls ok | Failed | Calls/s | p50 ms | p90 ms | p99 ms | Mean ms | Slow backend share | Served (slow / fast / fast) | Tandem CPU µs/call | other CPU % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
  ];
  for (const run of comparison.runs) {
    if (run.load === null) {
      lines.push(`| ${run.policy} | **error** | ${(run.error ?? '').split('\n')[0]?.replaceAll('|', '\\|') ?? ''} | | | | | | | | | |`);
      continue;
    }
    const l = run.load;
    const detail = (key: string): number | undefined => (typeof l.details[key] === 'number' ? l.details[key] : undefined);
    lines.push(
      `| ${run.policy} | ${l.completed.toLocaleString('en-US')} | ${l.failed} | ${fmt(l.reqPerSec, 0)} | ${fmt(l.p50Ms, 3)} | ${fmt(detail('p90Ms'), 3)} | ` +
        `${fmt(l.p99Ms, 3)} | ${fmt(detail('meanMs'), 3)} | ${fmt(100 * run.slowShare, 1)} % | ${run.served.join(' / ')} | ` +
        `${fmt(run.tandemCpuMicrosPerCall, 0)} | ${fmt(run.otherCpuPercent, 0)} |`,
    );
  }
  for (const error of comparison.errors.filter((e) => !comparison.runs.some((r) => e.startsWith(`${r.policy}:`)))) {
    lines.push(`| **error** | ${error.split('\n')[0]?.replaceAll('|', '\\|') ?? ''} | | | | | | | | | | |`);
  }
  return lines.join('\n');
}
