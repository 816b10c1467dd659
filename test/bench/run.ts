/**
 * `npm run bench`: the same load sent direct to a backend, through Tandem and through a minimal Node
 * proxy (minimalProxy.ts), in one run, each process separate so /proc accounts its CPU alone.
 * Prints a markdown table and writes the same results as JSON to bench-results/<timestamp>.json.
 * What is measured and how: docs/benchmarks.md.
 *
 * Environment: BENCH_DURATION (seconds per measured run, default 10), BENCH_WARMUP (seconds of
 * unmeasured load before each, default 3), BENCH_SCENARIOS (comma-separated ids, default all),
 * BENCH_RATE (req/s of the fixed-rate HTTP/1.1, h2c and gRPC scenarios, default 1000), BENCH_CPU_PROF (`tandem` or 1:
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
import { FOREIGN_INSTALL, findForeignProxies, startForeignProxy, type ForeignProxy } from './foreignProxies.js';
import { H2LOAD_INSTALL, findH2load, runH2load } from './h2load.js';
import { runWorker } from './workers.js';
import { OVERFLOW_SCENARIO_ID, overflowMarkdown, readOverflowSettings, runOverflowComparison, type OverflowComparison } from './overflowLatency.js';
import { POLICY_SCENARIO_ID, policyMarkdown, readPolicySettings, runPolicyComparison, type PolicyComparison } from './policyComparison.js';
import { formatProfile, summarizeProfile } from './profile.js';
import { probeGrpc, probeHttp1, probeHttp2 } from './probes.js';
import { CLOCK_TICKS, installCleanup, killAll, liveChildren, sampleMachine, sampleProc, type Child } from './processes.js';
import { markdown, TARGETS, verdicts, type ProcessUsage, type ScenarioResult, type TargetName } from './report.js';
import { runtimeProbeFlags, runtimeSnapshot, runtimeUsage, type RuntimeSnapshot } from './runtimeStats.js';
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
  /** Open-loop load at `settings.rate` from rateWorker.ts, where added latency is judged. */
  const fixedRate = (
    mode: 'h1' | 'h2c' | 'grpc',
    what: string,
    backend: BackendKind,
    tandemProtocol: TandemProtocol,
    minimalMode: 'h1' | 'h2',
    probe: (port: number) => Promise<void>,
    client: string,
  ): Scenario => ({
    id: `${mode}-${settings.rate}rps`,
    title: `${what}, fixed ${settings.rate} req/s (latency)`,
    load: `rateWorker.ts (own process): open loop, ${settings.rate} req/s evenly spaced; ${client}`,
    backend,
    tandemProtocol,
    minimalMode,
    needsH2load: false,
    kind: 'fixed-rate',
    probe,
    run: ({ port, seconds }) => runWorker('rate worker', 'rateWorker.js', [String(port), String(settings.rate), String(seconds), '10', mode], seconds),
  });
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
    fixedRate('h1', 'HTTP/1.1 GET', 'h1', 'http1', 'h1', probeHttp1, 'node:http client, keep-alive, 10 sockets'),
    fixedRate('h2c', 'h2c GET', 'h2', 'http2', 'h2', probeHttp2, 'node:http2 client, 10 h2c connections'),
    fixedRate('grpc', 'gRPC unary', 'grpc', 'grpc', 'h2', probeGrpc, 'node:http2 client, 10 h2c connections, the same gRPC request'),
  ];
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

async function runScenario(scenario: Scenario, settings: Settings, workDir: string, profileDir: string | undefined, foreign: readonly ForeignProxy[]): Promise<ScenarioResult> {
  const result: ScenarioResult = { id: scenario.id, title: scenario.title, load: scenario.load, kind: scenario.kind, results: [], errors: [], profiles: [] };
  const profiled: string[] = [];
  try {
    const backend = await startBackend(scenario.backend);
    current.push(backend.child);
    const tandemFlags = profileDir === undefined ? [] : cpuProfileFlags(profileDir, `tandem-${scenario.id}`);
    const tandem = await startTandem(join(workDir, scenario.id), scenario.tandemProtocol, backend.port, [...tandemFlags, ...runtimeProbeFlags()]);
    current.push(tandem.child);
    if (profileDir !== undefined) profiled.push(join(profileDir, `tandem-${scenario.id}.cpuprofile`));
    const minimalFlags = profileDir === undefined || settings.profile !== 'all' ? [] : cpuProfileFlags(profileDir, `minimal-${scenario.id}`);
    const minimal = await startMinimalProxy(scenario.minimalMode, backend.port, [...minimalFlags, ...runtimeProbeFlags()]);
    current.push(minimal.child);
    if (minimalFlags.length > 0 && profileDir !== undefined) profiled.push(join(profileDir, `minimal-${scenario.id}.cpuprofile`));
    const targets = new Map<TargetName, Running | undefined>([['direct', undefined], ['tandem', tandem], ['minimal', minimal]]);
    for (const proxy of foreign) {
      try {
        const running = await startForeignProxy(proxy, scenario.minimalMode, backend.port, workDir);
        current.push(running.child);
        targets.set(proxy.name, running);
      } catch (error) {
        result.errors.push(`${proxy.name}: ${(error as Error).message}`);
        log(`${scenario.id} / ${proxy.name}: FAILED to start: ${(error as Error).message}`);
      }
    }
    // Before any request: what each proxy costs just to be running.
    const startRss = new Map([...targets].map(([name, running]) => [name, running === undefined ? null : sampleProc(running.child.pid).rssBytes / 2 ** 20]));
    const probed = new Set<TargetName>(['tandem', 'minimal']);
    for (const [target, proxy] of targets) {
      const port = proxy?.port ?? backend.port;
      const logFile = join(workDir, `h2load-${scenario.id}-${target}.log`);
      try {
        log(`${scenario.id} / ${target}: probe, ${settings.warmupS} s warm-up, ${settings.durationS} s measured (port ${port})`);
        await scenario.probe(port);
        if (settings.warmupS > 0) await scenario.run({ port, seconds: settings.warmupS, logFile });
        await sleep(500);
        const loadavgBefore = loadavg();
        const proxyBefore = proxy === undefined ? undefined : sampleProc(proxy.child.pid);
        const runtimeBefore: RuntimeSnapshot | undefined = proxy !== undefined && probed.has(target) ? await runtimeSnapshot(proxy.child) : undefined;
        const backendBefore = sampleProc(backend.child.pid);
        const machineBefore = sampleMachine();
        const load = await scenario.run({ port, seconds: settings.durationS, logFile });
        const machineAfter = sampleMachine();
        const proxyUsage = proxy === undefined || proxyBefore === undefined ? undefined : usage(proxy.child.pid, proxyBefore, load.completed);
        const runtime = proxy === undefined || runtimeBefore === undefined ? null : runtimeUsage(runtimeBefore, await runtimeSnapshot(proxy.child), load.completed);
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
          proxyStartRssMB: startRss.get(target) ?? null,
          runtime,
          backend: backendUsage,
          loadGenerator: { cpuMicros: loadGeneratorMicros, cpuMicrosPerRequest: load.completed > 0 ? loadGeneratorMicros / load.completed : NaN },
          machine: { busyPercent: (100 * busy) / total, otherPercent: (100 * Math.max(0, busy - ours)) / total },
          loadavgBefore,
          loadavgAfter: loadavg(),
        });
        log(
          `${scenario.id} / ${target}: ${fmt(load.reqPerSec, 0)} req/s, p50 ${fmt(load.p50Ms, 3)} ms, p99 ${fmt(load.p99Ms, 3)} ms, ` +
            `${load.failed} failed${proxyUsage === undefined ? '' : `, proxy ${fmt(proxyUsage.cpuMicrosPerRequest, 1)} µs CPU/req`}` +
            `${runtime === null ? '' : `, ${fmt(runtime.allocatedBytesPerRequest / 1024, 1)} KiB allocated/req, ${runtime.collections} GCs (longest ${fmt(runtime.longestPauseMs, 1)} ms)`}, ` +
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
    // Reverse start order (foreign proxies, minimal proxy, Tandem, backend), each gracefully: --cpu-prof writes on a clean exit.
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
  const foreign = findForeignProxies();
  const skippedNotes = skippedNote === undefined ? [] : [skippedNote];
  if (foreign.length < 2) {
    const missing = ['haproxy', 'nghttpx'].filter((name) => !foreign.some((proxy) => proxy.name === name));
    skippedNotes.push(`${missing.join(' and ')} not installed: no comparison with ${missing.length === 2 ? 'them' : 'it'} in this run (${FOREIGN_INSTALL})`);
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
    `- node ${process.version}; h2load: ${h2load?.version ?? 'not installed'}; ${foreign.map((proxy) => proxy.version).join('; ') || 'no HAProxy, no nghttpx'}; CLK_TCK ${CLOCK_TICKS}`,
    `- each run: ${settings.warmupS} s warm-up (not measured), then ${settings.durationS} s measured; load generator, backend and proxy are separate processes on 127.0.0.1`,
    `- CPU µs/req: utime+stime of the proxy process over the measured run ÷ successful requests; RSS once started (before any request), at the end of the run (peak since start)`,
    `- alloc KiB/req, GCs, GC ms: V8's heap statistics in Tandem and the minimal Node pipe (test/bench/runtimeProbe.ts), over the measured run; major = mark-sweep-compact`,
    `- HAProxy and nghttpx: one thread each, keep-alive to the backend; HTTP/1.1 both sides for h1, h2c both sides for h2c and gRPC`,
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
    results.push(await runScenario(scenario, settings, workDir, profileDir, foreign));
  }

  let overflow: OverflowComparison | undefined;
  if (overflowSettings !== undefined) overflow = await runOverflowComparison(workDir, overflowSettings, log);
  let policies: PolicyComparison | undefined;
  if (policySettings !== undefined) policies = await runPolicyComparison(workDir, policySettings, log);

  const verdict = verdicts(results);
  const table = [
    chosen.length > 0 ? markdown(results, verdict, header, skippedNotes) : header.slice(0, 4).join('\n'),
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
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, h2load: h2load?.version ?? null, foreign, clockTicks: CLOCK_TICKS },
    settings,
    skipped: skippedNote ?? null,
    scenarios: results,
    overflow: overflow ?? null,
    policies: policies ?? null,
    targets: { ...TARGETS, verdicts: verdict },
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
