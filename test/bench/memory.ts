/**
 * Memory of `tandem sidecar` beside bare Node (`node dist/test/bench/memory.js`, after `npm run build`;
 * also the last step of `npm run bench`), in one run:
 *
 * 1. Start: VmRSS of BENCH_ROUNDS (3) fresh starts of each, median — Tandem with the benchmark's
 *    configuration (static discovery, one `http1` upstream on a local port, YAML files) once `/ready`
 *    answers 200; a bare Node HTTP server (`idleServer.js h1`) once it listens; and `node -e
 *    'setInterval(…)'`, the floor. The last Tandem is read again after BENCH_SETTLE seconds idle.
 * 2. Load: autocannon (HTTP/1.1, 50 connections, BENCH_DURATION s, default 10) through that Tandem's
 *    outbound listener and through the minimal Node proxy: VmRSS when the load ends, the peak
 *    (VmHWM), and VmRSS after BENCH_SETTLE (10) seconds idle.
 * 3. Idle connections: BENCH_IDLE_CONNECTIONS (10,000; at most the open-file limit less 1,000)
 *    HTTP/1.1 keep-alive and h2c connections, each having served one request, held against a fresh
 *    Tandem's outbound listener and against a bare Node server of the same protocol: RSS growth per
 *    connection.
 *
 * Everything listens on 127.0.0.1. Results in docs/benchmarks.md ("Memory").
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt } from './format.js';
import { idleCost, type IdleCost } from './idleCost.js';
import { installCleanup, killAll, sampleProc, startChild, type Child } from './processes.js';
import { log, positiveNumber, runBenchmark, startSidecar, type Sidecar } from './sidecarRuns.js';
import { BENCH_DIST, startBackend, startMinimalProxy } from './targets.js';
import { runWorker } from './workers.js';

const settings = {
  rounds: Math.round(positiveNumber('BENCH_ROUNDS', 3)),
  durationS: positiveNumber('BENCH_DURATION', 10),
  settleS: positiveNumber('BENCH_SETTLE', 10),
  idle: Math.min(positiveNumber('BENCH_IDLE_CONNECTIONS', 10_000), openFileLimit() - 1_000),
};
const LOAD_CONNECTIONS = 50;
const MIB = 1_048_576;

function openFileLimit(): number {
  return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 1024;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const rssMib = (pid: number): number => sampleProc(pid).rssBytes / MIB;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** A process from this directory's scripts (or `node -e`) that prints `ready port=<port>`. */
async function startScript(name: string, args: readonly string[]): Promise<{ child: Child; port: number }> {
  const child = startChild(name, process.execPath, args);
  const ready = await child.waitForLine(/^ready port=(\d+)$/, 15_000);
  return { child, port: Number(ready[1]) };
}

const bareServer = (kind: 'h1' | 'h2c'): Promise<{ child: Child; port: number }> => startScript(`node ${kind}`, [join(BENCH_DIST, 'idleServer.js'), kind]);
const bareFloor = (): Promise<{ child: Child; port: number }> =>
  startScript('node -e', ['-e', "process.stdout.write('ready port=0\\n'); setInterval(() => {}, 1e3); process.stdin.on('end', () => process.exit(0)).resume()"]);

async function main(): Promise<number> {
  installCleanup(() => {
    killAll();
    return Promise.resolve();
  });
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-memory-'));
  try {
    const backend = await startBackend('h1');
    writeFileSync(join(dir, 'endpoints.yaml'), `services:\n  echo: ["127.0.0.1:${backend.port}"]\n`);
    const startTandem = (): Promise<Sidecar> =>
      startSidecar(dir, 'memory', { discovery: { static: { file: './endpoints.yaml' } }, upstreams: [{ name: 'echo', local_port: 0, protocol: 'http1' }] }, ['outbound.echo']);

    // 1. Start.
    const starts = { tandem: [] as number[], bare: [] as number[], floor: [] as number[] };
    let tandem: Sidecar | undefined;
    for (let round = 0; round < settings.rounds; round++) {
      await tandem?.child.stop();
      tandem = await startTandem();
      starts.tandem.push(rssMib(tandem.child.pid));
      for (const [list, start] of [[starts.bare, () => bareServer('h1')], [starts.floor, bareFloor]] as const) {
        const bare = await start();
        list.push(rssMib(bare.child.pid));
        await bare.child.stop();
      }
      log(`start, round ${round + 1}: Tandem ${fmt(starts.tandem.at(-1) ?? 0, 1)} MiB, bare server ${fmt(starts.bare.at(-1) ?? 0, 1)}, node -e ${fmt(starts.floor.at(-1) ?? 0, 1)}`);
    }
    if (tandem === undefined) throw new Error('BENCH_ROUNDS must be at least 1');
    await sleep(settings.settleS * 1_000);
    const tandemSettled = rssMib(tandem.child.pid);

    // 2. Load.
    const proxy = await startMinimalProxy('h1', backend.port);
    const loads: string[] = [];
    for (const [name, pid, port] of [['Tandem', tandem.child.pid, tandem.ports.get('outbound.echo') as number], ['minimal Node proxy', proxy.child.pid, proxy.port]] as const) {
      const before = rssMib(pid);
      log(`load: ${name}, ${settings.durationS} s`);
      const result = await runWorker('autocannon', 'autocannonWorker.js', [`http://127.0.0.1:${port}/`, String(LOAD_CONNECTIONS), String(settings.durationS)], settings.durationS);
      const end = sampleProc(pid);
      await sleep(settings.settleS * 1_000);
      loads.push(`| ${name} | ${fmt(result.reqPerSec, 0)} | ${result.failed} | ${fmt(before, 1)} | ${fmt(end.rssBytes / MIB, 1)} | ${fmt(end.peakRssBytes / MIB, 1)} | ${fmt(rssMib(pid), 1)} |`);
    }
    await proxy.child.stop();
    await tandem.child.stop();

    // 3. Idle connections.
    const idle: string[] = [];
    for (const kind of ['h1', 'h2c'] as const) {
      const bare = await bareServer(kind);
      log(`idle ${kind}: ${settings.idle} connections to a bare server, then to a fresh Tandem`);
      const bareCost = await idleCost(bare.child.pid, bare.port, kind, settings.idle);
      await bare.child.stop();
      const fresh = await startTandem();
      const tandemCost = await idleCost(fresh.child.pid, fresh.ports.get('outbound.echo') as number, kind, settings.idle);
      await fresh.child.stop();
      const cell = (cost: IdleCost): string => `${fmt(cost.kibEach, 1)} (${cost.held} held)`;
      idle.push(`| ${kind === 'h1' ? 'HTTP/1.1 keep-alive' : 'h2c'} | ${cell(bareCost)} | ${cell(tandemCost)} | ${fmt(tandemCost.kibEach - bareCost.kibEach, 1)} |`);
    }

    const lines = [
      `## Memory, ${new Date().toISOString()}`,
      '',
      `| Start, VmRSS MiB (median of ${settings.rounds}) | at start | ${settings.settleS} s later |`,
      '|---|---:|---:|',
      `| Tandem sidecar (once /ready is 200) | ${fmt(median(starts.tandem), 1)} | ${fmt(tandemSettled, 1)} |`,
      `| bare Node HTTP server | ${fmt(median(starts.bare), 1)} | — |`,
      `| node -e 'setInterval(…)' | ${fmt(median(starts.floor), 1)} | — |`,
      '',
      `| HTTP/1.1 load, ${LOAD_CONNECTIONS} connections, ${settings.durationS} s | req/s | failed | RSS MiB before | at the end | peak | ${settings.settleS} s later |`,
      '|---|---:|---:|---:|---:|---:|---:|',
      ...loads,
      '',
      `| Idle connections (${settings.idle} each) | bare Node server KiB each | Tandem outbound listener KiB each | Tandem adds |`,
      '|---|---:|---:|---:|',
      ...idle,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
