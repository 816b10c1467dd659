/**
 * `npm run bench`: the same load sent direct to a backend, through Tandem and through a minimal Node
 * proxy (minimalProxy.ts), in one run, each process separate so /proc accounts its CPU alone.
 * Prints a markdown table and writes the same results as JSON to bench-results/<timestamp>.json.
 * What is measured and how: docs/benchmarks.md.
 *
 * Environment: BENCH_DURATION (seconds per measured run, default 10), BENCH_WARMUP (seconds of
 * unmeasured load before each, default 3), BENCH_SCENARIOS (comma-separated ids, default all),
 * BENCH_RATE (req/s of the fixed-rate gRPC scenario, default 1000), BENCH_CPU_PROF (`tandem` or 1:
 * profile Tandem; `all`: the minimal proxy too), BENCH_H2LOAD (path of the h2load to use).
 * Scenario `policies` (policyComparison.ts) compares balancing policies instead: BENCH_POLICY_CALLS,
 * BENCH_POLICY_CONCURRENCY, BENCH_POLICY_SLOW_MS. Scenario `overflow` (overflowLatency.ts) times
 * circuit-breaker overflow answers against a backend's own refusal: BENCH_OVERFLOW_PROBES.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRPC_MESSAGE, GRPC_PATH, grpcFrame } from './constants.js';
import { fmt } from './format.js';
import { H2LOAD_INSTALL, findH2load, runH2load } from './h2load.js';
import { runWorker } from './workers.js';
import { OVERFLOW_SCENARIO_ID, overflowMarkdown, readOverflowSettings, runOverflowComparison, type OverflowComparison } from './overflowLatency.js';
import { POLICY_SCENARIO_ID, policyMarkdown, readPolicySettings, runPolicyComparison, type PolicyComparison } from './policyComparison.js';
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile.js';
import { probeGrpc, probeHttp1, probeHttp2 } from './probes.js';
import { CLOCK_TICKS, installCleanup, killAll, liveChildren, sampleMachine, sampleProc, type Child } from './processes.js';
import type { LoadResult } from './stats.js';
import {
  REPO_ROOT,
  cpuProfileFlags,
  startBackend,
  startMinimalProxy,
  startTandem,
  type BackendKind,
  type Running,
  type TandemProtocol,
} from './targets.js';

type TargetName = 'direct' | 'tandem' | 'minimal';
const TARGETS: readonly TargetName[] = ['direct', 'tandem', 'minimal'];

interface Settings {
  readonly durationS: number;
  readonly warmupS: number;
  readonly rate: number;
  readonly scenarios: readonly string[] | undefined;
  readonly profile: 'none' | 'tandem' | 'all';
}

function positiveNumber(name: string, fallback: number, allowZero = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) throw new Error(`${name}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got "${raw}"`);
  return value;
}

function readSettings(): Settings {
  const prof = (process.env['BENCH_CPU_PROF'] ?? '').toLowerCase();
  return {
    durationS: Math.round(positiveNumber('BENCH_DURATION', 10)),
    warmupS: Math.round(positiveNumber('BENCH_WARMUP', 3, true)),
    rate: Math.round(positiveNumber('BENCH_RATE', 1000)),
    scenarios: process.env['BENCH_SCENARIOS']?.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    profile: prof === '' || prof === '0' || prof === 'none' ? 'none' : prof === 'all' ? 'all' : 'tandem',
  };
}

/** What a scenario's load generator needs to know about one run. */
interface LoadContext {
  readonly port: number;
  readonly seconds: number;
  readonly logFile: string;
}

interface Scenario {
  readonly id: string;
  readonly title: string;
  /** How the load is generated, for the report. */
  readonly load: string;
  readonly backend: BackendKind;
  readonly tandemProtocol: TandemProtocol;
  readonly minimalMode: 'h1' | 'h2';
  readonly needsH2load: boolean;
  /** Saturation scenarios are where CPU per request is compared; fixed-rate ones where latency is. */
  readonly kind: 'saturation' | 'fixed-rate';
  probe(port: number): Promise<void>;
  run(context: LoadContext): Promise<LoadResult>;
}

function scenarios(settings: Settings, h2load: string | undefined, workDir: string): Scenario[] {
  const grpcBody = join(workDir, 'grpc-request.bin');
  writeFileSync(grpcBody, grpcFrame(GRPC_MESSAGE));
  const grpcHeaders = ['content-type: application/grpc', 'te: trailers'];
  const needH2load = (): string => {
    if (h2load === undefined) throw new Error('h2load is not installed');
    return h2load;
  };
  return [
    {
      id: 'h1',
      title: 'HTTP/1.1 GET, saturation',
      load: 'autocannon (programmatic API, own process), 50 connections, pipelining 1',
      backend: 'h1',
      tandemProtocol: 'http1',
      minimalMode: 'h1',
      needsH2load: false,
      kind: 'saturation',
      probe: probeHttp1,
      run: ({ port, seconds }) => runWorker('autocannon', 'autocannonWorker.js', [`http://127.0.0.1:${port}/`, '50', String(seconds)], seconds),
    },
    {
      id: 'h2c',
      title: 'h2c GET, saturation',
      load: 'h2load -c 10 -m 10 (10 connections x 10 streams)',
      backend: 'h2',
      tandemProtocol: 'http2',
      minimalMode: 'h2',
      needsH2load: true,
      kind: 'saturation',
      probe: probeHttp2,
      run: ({ port, seconds, logFile }) =>
        runH2load({ h2load: needH2load(), url: `http://127.0.0.1:${port}/`, clients: 10, streams: 10, durationS: seconds, logFile }),
    },
    {
      id: 'grpc',
      title: 'gRPC unary (100-byte message), saturation',
      load: 'h2load -c 10 -m 10 with a length-prefixed gRPC body, POST /test.Echo/Unary, content-type: application/grpc, te: trailers',
      backend: 'grpc',
      tandemProtocol: 'grpc',
      minimalMode: 'h2',
      needsH2load: true,
      kind: 'saturation',
      probe: probeGrpc,
      run: ({ port, seconds, logFile }) =>
        runH2load({
          h2load: needH2load(),
          url: `http://127.0.0.1:${port}${GRPC_PATH}`,
          clients: 10,
          streams: 10,
          durationS: seconds,
          dataFile: grpcBody,
          headers: grpcHeaders,
          logFile,
        }),
    },
    {
      id: `grpc-${settings.rate}rps`,
      title: `gRPC unary, fixed ${settings.rate} req/s (latency)`,
      load: `rateWorker.ts (node:http2 client, own process): open loop, ${settings.rate} req/s evenly spaced over 10 h2c connections, same gRPC request`,
      backend: 'grpc',
      tandemProtocol: 'grpc',
      minimalMode: 'h2',
      needsH2load: false,
      kind: 'fixed-rate',
      probe: probeGrpc,
      run: ({ port, seconds }) =>
        runWorker('rate worker', 'rateWorker.js', [String(port), String(settings.rate), String(seconds), '10'], seconds),
    },
  ];
}

interface ProcessUsage {
  readonly cpuMicros: number;
  readonly cpuMicrosPerRequest: number;
  /** RSS at the end of the measured run, and the process's peak so far. */
  readonly rssMB: number;
  readonly peakRssMB: number;
}

interface TargetResult {
  readonly target: TargetName;
  readonly load: LoadResult;
  /** The proxy process (none for direct). */
  readonly proxy: ProcessUsage | null;
  readonly backend: ProcessUsage;
  /** CPU of the load-generator process over the measured run. */
  readonly loadGenerator: { readonly cpuMicros: number; readonly cpuMicrosPerRequest: number };
  /**
   * The whole machine during the measured run, as % of all its cores: everything busy, and what
   * processes outside the benchmark (other than load generator, backend, proxy, harness) used.
   */
  readonly machine: { readonly busyPercent: number; readonly otherPercent: number };
  readonly loadavgBefore: readonly number[];
  readonly loadavgAfter: readonly number[];
}

interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly load: string;
  readonly kind: Scenario['kind'];
  readonly results: TargetResult[];
  readonly errors: string[];
  readonly skipped?: string;
  readonly profiles: ProfileSummary[];
}

function usage(pid: number, before: ReturnType<typeof sampleProc>, requests: number): ProcessUsage {
  const after = sampleProc(pid);
  const cpuMicros = after.cpuMicros - before.cpuMicros;
  return {
    cpuMicros,
    cpuMicrosPerRequest: requests > 0 ? cpuMicros / requests : NaN,
    rssMB: after.rssBytes / 2 ** 20,
    peakRssMB: after.peakRssBytes / 2 ** 20,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Children of the scenario in progress, stopped gracefully on Ctrl-C so profiles still get written. */
let current: Child[] = [];

async function runScenario(scenario: Scenario, settings: Settings, workDir: string, profileDir: string | undefined): Promise<ScenarioResult> {
  const result: ScenarioResult = { id: scenario.id, title: scenario.title, load: scenario.load, kind: scenario.kind, results: [], errors: [], profiles: [] };
  const profiled: string[] = [];
  try {
    const backend = await startBackend(scenario.backend);
    current.push(backend.child);
    const tandemFlags = profileDir === undefined ? [] : cpuProfileFlags(profileDir, `tandem-${scenario.id}`);
    const tandem = await startTandem(join(workDir, scenario.id), scenario.tandemProtocol, backend.port, tandemFlags);
    current.push(tandem.child);
    if (profileDir !== undefined) profiled.push(join(profileDir, `tandem-${scenario.id}.cpuprofile`));
    const minimalFlags = profileDir === undefined || settings.profile !== 'all' ? [] : cpuProfileFlags(profileDir, `minimal-${scenario.id}`);
    const minimal = await startMinimalProxy(scenario.minimalMode, backend.port, minimalFlags);
    current.push(minimal.child);
    if (minimalFlags.length > 0 && profileDir !== undefined) profiled.push(join(profileDir, `minimal-${scenario.id}.cpuprofile`));
    const targets: Record<TargetName, Running | undefined> = { direct: undefined, tandem, minimal };
    for (const target of TARGETS) {
      const proxy = targets[target];
      const port = proxy?.port ?? backend.port;
      const logFile = join(workDir, `h2load-${scenario.id}-${target}.log`);
      try {
        log(`${scenario.id} / ${target}: probe, ${settings.warmupS} s warm-up, ${settings.durationS} s measured (port ${port})`);
        await scenario.probe(port);
        if (settings.warmupS > 0) await scenario.run({ port, seconds: settings.warmupS, logFile });
        await sleep(500);
        const loadavgBefore = loadavg();
        const proxyBefore = proxy === undefined ? undefined : sampleProc(proxy.child.pid);
        const backendBefore = sampleProc(backend.child.pid);
        const machineBefore = sampleMachine();
        const load = await scenario.run({ port, seconds: settings.durationS, logFile });
        const machineAfter = sampleMachine();
        const proxyUsage = proxy === undefined || proxyBefore === undefined ? undefined : usage(proxy.child.pid, proxyBefore, load.completed);
        const backendUsage = usage(backend.child.pid, backendBefore, load.completed);
        // The load generator has exited and been reaped: its CPU is in our children's counters now.
        const loadGeneratorMicros = machineAfter.reapedChildrenMicros - machineBefore.reapedChildrenMicros;
        const ours = (proxyUsage?.cpuMicros ?? 0) + backendUsage.cpuMicros + loadGeneratorMicros + machineAfter.selfMicros - machineBefore.selfMicros;
        const busy = machineAfter.busyMicros - machineBefore.busyMicros;
        const total = Math.max(1, machineAfter.totalMicros - machineBefore.totalMicros);
        result.results.push({
          target,
          load,
          proxy: proxyUsage ?? null,
          backend: backendUsage,
          loadGenerator: { cpuMicros: loadGeneratorMicros, cpuMicrosPerRequest: load.completed > 0 ? loadGeneratorMicros / load.completed : NaN },
          machine: { busyPercent: (100 * busy) / total, otherPercent: (100 * Math.max(0, busy - ours)) / total },
          loadavgBefore,
          loadavgAfter: loadavg(),
        });
        log(
          `${scenario.id} / ${target}: ${fmt(load.reqPerSec, 0)} req/s, p50 ${fmt(load.p50Ms, 3)} ms, p99 ${fmt(load.p99Ms, 3)} ms, ` +
            `${load.failed} failed${proxyUsage === undefined ? '' : `, proxy ${fmt(proxyUsage.cpuMicrosPerRequest, 1)} µs CPU/req`}, ` +
            `machine ${fmt((100 * busy) / total, 0)}% busy (${fmt((100 * Math.max(0, busy - ours)) / total, 0)}% outside the benchmark)`,
        );
        await sleep(500);
      } catch (error) {
        result.errors.push(`${target}: ${(error as Error).message}`);
        log(`${scenario.id} / ${target}: FAILED: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    result.errors.push((error as Error).message);
    log(`${scenario.id}: FAILED: ${(error as Error).message}`);
  } finally {
    // Reverse start order (minimal proxy, Tandem, backend), each gracefully: --cpu-prof writes on a clean exit.
    for (const child of [...current].reverse()) await child.stop(8_000);
    current = [];
  }
  for (const file of profiled) {
    try {
      const summary = summarizeProfile(file);
      result.profiles.push(summary);
      log(formatProfile(summary));
    } catch (error) {
      result.errors.push(`profile ${file}: ${(error as Error).message}`);
    }
  }
  return result;
}

/** The commit benchmarked, `+dirty` when Tandem's sources differ from it. */
function revision(): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
  try {
    const dirty = git('status', '--porcelain', '--', 'sidecar', 'discovery') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? '+dirty' : ''}`;
  } catch {
    return 'unknown';
  }
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function ratio(value: number | undefined, base: number | undefined): number | undefined {
  return value === undefined || base === undefined || base === 0 ? undefined : value / base;
}

interface TargetVerdicts {
  readonly addedLatency: Array<{ scenario: string; addedP50Ms: number; addedP99Ms: number; p50Met: boolean; p99Met: boolean }>;
  readonly cpu: Array<{ scenario: string; tandemMicros: number; minimalMicros: number; ratio: number; met: boolean }>;
}

const ADDED_P50_TARGET_MS = 0.3;
const ADDED_P99_TARGET_MS = 1;
const CPU_RATIO_TARGET = 1.5;

function verdicts(results: readonly ScenarioResult[]): TargetVerdicts {
  const verdict: TargetVerdicts = { addedLatency: [], cpu: [] };
  for (const scenario of results) {
    const by = (target: TargetName): TargetResult | undefined => scenario.results.find((r) => r.target === target);
    const direct = by('direct');
    const tandem = by('tandem');
    const minimal = by('minimal');
    if (scenario.kind === 'fixed-rate' && direct !== undefined && tandem !== undefined) {
      const addedP50Ms = tandem.load.p50Ms - direct.load.p50Ms;
      const addedP99Ms = tandem.load.p99Ms - direct.load.p99Ms;
      verdict.addedLatency.push({ scenario: scenario.id, addedP50Ms, addedP99Ms, p50Met: addedP50Ms <= ADDED_P50_TARGET_MS, p99Met: addedP99Ms <= ADDED_P99_TARGET_MS });
    }
    if (scenario.kind === 'saturation' && tandem?.proxy != null && minimal?.proxy != null) {
      const r = tandem.proxy.cpuMicrosPerRequest / minimal.proxy.cpuMicrosPerRequest;
      verdict.cpu.push({
        scenario: scenario.id,
        tandemMicros: tandem.proxy.cpuMicrosPerRequest,
        minimalMicros: minimal.proxy.cpuMicrosPerRequest,
        ratio: r,
        met: r <= CPU_RATIO_TARGET,
      });
    }
  }
  return verdict;
}

function markdown(results: readonly ScenarioResult[], verdict: TargetVerdicts, header: string[], skippedNote: string | undefined): string {
  const lines = [...header, ''];
  if (skippedNote !== undefined) lines.push(`> **${skippedNote}**`, '');
  lines.push(
    '| Scenario | Target | req/s | p50 ms | p99 ms | req/s ÷ direct | p50 ÷ direct | p99 ÷ direct | proxy CPU µs/req | proxy RSS MB (peak) | failed | other CPU % |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const scenario of results) {
    if (scenario.skipped !== undefined) {
      lines.push(`| ${scenario.id} | **skipped: ${scenario.skipped}** | | | | | | | | | | |`);
      continue;
    }
    const direct = scenario.results.find((r) => r.target === 'direct');
    for (const r of scenario.results) {
      const isDirect = r.target === 'direct';
      const cell = (value: number | undefined): string => (isDirect ? '—' : fmt(value, 2));
      lines.push(
        `| ${scenario.id} | ${r.target === 'minimal' ? 'minimal proxy' : r.target} | ${fmt(r.load.reqPerSec, 0)} | ${fmt(r.load.p50Ms, 3)} | ${fmt(r.load.p99Ms, 3)} | ` +
          `${cell(ratio(r.load.reqPerSec, direct?.load.reqPerSec))} | ${cell(ratio(r.load.p50Ms, direct?.load.p50Ms))} | ${cell(ratio(r.load.p99Ms, direct?.load.p99Ms))} | ` +
          `${r.proxy === null ? '—' : fmt(r.proxy.cpuMicrosPerRequest, 1)} | ${r.proxy === null ? '—' : `${fmt(r.proxy.rssMB, 1)} (${fmt(r.proxy.peakRssMB, 1)})`} | ${r.load.failed} | ` +
          `${fmt(r.machine.otherPercent, 0)} |`,
      );
    }
    for (const error of scenario.errors) lines.push(`| ${scenario.id} | **error** | ${error.split('\n')[0]?.replaceAll('|', '\\|') ?? ''} | | | | | | | | | |`);
  }
  lines.push('', 'Targets:', '');
  const mark = (met: boolean): string => (met ? 'met' : '**MISSED**');
  for (const v of verdict.addedLatency) {
    lines.push(`- ${v.scenario}: added p50 ${fmt(v.addedP50Ms, 3)} ms (target ≤ ${ADDED_P50_TARGET_MS} ms: ${mark(v.p50Met)}), added p99 ${fmt(v.addedP99Ms, 3)} ms (target ≤ ${ADDED_P99_TARGET_MS} ms: ${mark(v.p99Met)})`);
  }
  for (const v of verdict.cpu) {
    lines.push(`- ${v.scenario}: CPU/request Tandem ${fmt(v.tandemMicros, 1)} µs vs minimal proxy ${fmt(v.minimalMicros, 1)} µs = ${fmt(v.ratio, 2)}x (target ≤ ${CPU_RATIO_TARGET}x: ${mark(v.met)})`);
  }
  if (verdict.addedLatency.length === 0 && verdict.cpu.length === 0) lines.push('- no scenario produced the numbers the targets need');
  return lines.join('\n');
}

async function main(): Promise<number> {
  const settings = readSettings();
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const workDir = mkdtempSync(join(tmpdir(), 'tandem-bench-'));
  process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));
  installCleanup(async () => {
    await Promise.all(current.map((child) => child.stop(3_000)));
  });
  const resultsDir = join(REPO_ROOT, 'bench-results');
  const profileDir = settings.profile === 'none' ? undefined : join(resultsDir, `profiles-${stamp}`);

  const h2load = findH2load();
  let skippedNote: string | undefined;
  if (h2load === undefined) {
    skippedNote = `h2load NOT FOUND: the h2c and gRPC scenarios are SKIPPED. Install it with: ${H2LOAD_INSTALL}`;
    const banner = '!'.repeat(skippedNote.length + 8);
    process.stderr.write(`\n${banner}\n!!! ${skippedNote} !!!\n${banner}\n\n`);
  }
  const all = scenarios(settings, h2load?.path, workDir);
  const separate = [OVERFLOW_SCENARIO_ID, POLICY_SCENARIO_ID];
  const unknown = (settings.scenarios ?? []).filter((id) => !separate.includes(id) && !all.some((s) => s.id === id));
  if (unknown.length > 0) throw new Error(`BENCH_SCENARIOS: unknown ${unknown.join(', ')}; known: ${[...all.map((s) => s.id), ...separate].join(', ')}`);
  const chosen = all.filter((s) => settings.scenarios === undefined || settings.scenarios.includes(s.id));
  const wanted = (id: string): boolean => settings.scenarios === undefined || settings.scenarios.includes(id);
  const overflowSettings = wanted(OVERFLOW_SCENARIO_ID) ? readOverflowSettings() : undefined;
  const policySettings = wanted(POLICY_SCENARIO_ID) ? readPolicySettings() : undefined;

  const commit = revision();
  const header = [
    `## Tandem benchmark, ${startedAt.toISOString()}, commit ${commit}`,
    '',
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `- node ${process.version}; h2load: ${h2load?.version ?? 'not installed'}; CLK_TCK ${CLOCK_TICKS}`,
    `- each run: ${settings.warmupS} s warm-up (not measured), then ${settings.durationS} s measured; load generator, backend and proxy are separate processes on 127.0.0.1`,
    `- CPU µs/req: utime+stime of the proxy process over the measured run ÷ successful requests; RSS at the end of the run (peak since start)`,
    `- other CPU %: share of the whole machine (all cores) that processes outside the benchmark used during the run; high means noisy numbers`,
  ];
  if (settings.profile !== 'none') header.push(`- **CPU profiling on (${settings.profile}): CPU and throughput numbers are inflated by the profiler**; profiles in ${profileDir ?? ''}`);

  const separateChosen = [...(overflowSettings === undefined ? [] : [OVERFLOW_SCENARIO_ID]), ...(policySettings === undefined ? [] : [POLICY_SCENARIO_ID])];
  log(`scenarios: ${[...chosen.map((s) => s.id), ...separateChosen].join(', ')}; ${settings.durationS} s per run`);
  const results: ScenarioResult[] = [];
  for (const scenario of chosen) {
    if (scenario.needsH2load && h2load === undefined) {
      log(`${scenario.id}: SKIPPED, h2load is not installed (${H2LOAD_INSTALL})`);
      results.push({ id: scenario.id, title: scenario.title, load: scenario.load, kind: scenario.kind, results: [], errors: [], profiles: [], skipped: `h2load not installed (${H2LOAD_INSTALL})` });
      continue;
    }
    results.push(await runScenario(scenario, settings, workDir, profileDir));
  }

  let overflow: OverflowComparison | undefined;
  if (overflowSettings !== undefined) overflow = await runOverflowComparison(workDir, overflowSettings, log);
  let policies: PolicyComparison | undefined;
  if (policySettings !== undefined) policies = await runPolicyComparison(workDir, policySettings, log);

  const verdict = verdicts(results);
  const table = [
    chosen.length > 0 ? markdown(results, verdict, header, skippedNote) : header.slice(0, 4).join('\n'),
    ...(overflow === undefined ? [] : [overflowMarkdown(overflow)]),
    ...(policies === undefined ? [] : [policyMarkdown(policies)]),
  ].join('\n\n');
  process.stdout.write(`\n${table}\n`);
  mkdirSync(resultsDir, { recursive: true });
  const jsonFile = join(resultsDir, `${stamp}.json`);
  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    commit,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, h2load: h2load?.version ?? null, clockTicks: CLOCK_TICKS },
    settings,
    skipped: skippedNote ?? null,
    scenarios: results,
    overflow: overflow ?? null,
    policies: policies ?? null,
    targets: {
      addedP50Ms: ADDED_P50_TARGET_MS,
      addedP99Ms: ADDED_P99_TARGET_MS,
      cpuRatioToMinimal: CPU_RATIO_TARGET,
      verdicts: verdict,
    },
    markdown: table,
  };
  writeFileSync(jsonFile, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${jsonFile}\n`);
  if (skippedNote !== undefined) process.stderr.write(`\n!!! ${skippedNote} !!!\n`);
  if (liveChildren() > 0) killAll();
  return results.some((r) => r.errors.length > 0) || (overflow?.errors.length ?? 0) > 0 || (policies?.errors.length ?? 0) > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    killAll();
    process.exit(1);
  },
);
