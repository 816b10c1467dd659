/**
 * What tracing costs (`node dist/test/bench/tracing.js`, also part of `npm run bench`): gRPC unary at
 * a fixed rate (BENCH_RATE, 1000 req/s) through one sidecar process to a gRPC backend, with tracing
 * off, on at sample_ratio 1.0 and on at 0.01 (spans exported over OTLP/HTTP to a sink in this process
 * that answers and discards), and through the build before any tracing code (BENCH_BASELINE, commit
 * 882bd47, built from a git worktree; `none` skips it), beside the backend called directly — every
 * target once per round, BENCH_ROUNDS rounds (3), medians reported. Reports p50/p99, what the sidecar
 * adds, and its CPU per request. Settings: BENCH_DURATION, BENCH_WARMUP, BENCH_RATE, BENCH_ROUNDS.
 * Results in docs/benchmarks.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { installCleanup, killAll } from './processes.js';
import { buildAt } from './baselineBuild.js';
import { fmt } from './format.js';
import { measure, medianRun, runBenchmark, runsTable, sidecarRunSettings, startSidecar, type Run, type Sidecar } from './sidecarRuns.js';
import { startBackend } from './targets.js';

const settings = sidecarRunSettings();

/** An OTLP/HTTP collector that reads each export, counts it and answers 200 `{}`. */
async function startSink(): Promise<{ server: Server; endpoint: string; exports: () => number }> {
  let exports = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exports: () => exports };
}

/** The last commit before the tracing work (issue 13): what "tracing off" is held against. */
const DEFAULT_BASELINE = '882bd47';

interface Target {
  readonly name: string;
  readonly port: number;
  readonly sidecars: readonly Sidecar[];
}

async function main(): Promise<number> {
  installCleanup(() => {
    killAll();
    return Promise.resolve();
  });
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-tracing-'));
  const sink = await startSink();
  const baselineRev = process.env['BENCH_BASELINE'] ?? DEFAULT_BASELINE;
  const baseline = baselineRev === 'none' ? undefined : buildAt(baselineRev);
  try {
    const backend = await startBackend('grpc');
    const targets: Target[] = [{ name: 'direct', port: backend.port, sidecars: [] }];
    const modes: ReadonlyArray<readonly [string, Record<string, unknown> | undefined, string | undefined]> = [
      ...(baseline === undefined ? [] : [[`build before tracing (${baseline.commit})`, undefined, baseline.main] as const]),
      ['tracing off', undefined, undefined],
      ['tracing on, sample_ratio 1.0', { otlp_endpoint: sink.endpoint, sample_ratio: 1 }, undefined],
      ['tracing on, sample_ratio 0.01', { otlp_endpoint: sink.endpoint, sample_ratio: 0.01 }, undefined],
    ];
    for (const [name, tracing, main] of modes) {
      const modeDir = join(dir, String(targets.length));
      mkdirSync(modeDir);
      writeFileSync(join(modeDir, 'endpoints.yaml'), stringify({ services: { echo: [`127.0.0.1:${backend.port}`] } }));
      const config = { discovery: { static: { file: './endpoints.yaml' } }, upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0 }], ...(tracing === undefined ? {} : { tracing }) };
      const sidecar = await startSidecar(modeDir, 'sidecar', config, ['outbound.echo'], main);
      targets.push({ name, port: sidecar.ports.get('outbound.echo') as number, sidecars: [sidecar] });
    }
    // Every target once per round, in turn, so that a slow minute of the machine falls on all of them.
    const rounds: Run[][] = targets.map(() => []);
    for (let round = 0; round < settings.rounds; round++) {
      for (const [i, target] of targets.entries()) rounds[i]?.push(await measure(settings, target.name, target.port, target.sidecars));
    }
    for (const target of targets) for (const sidecar of target.sidecars) await sidecar.child.stop();
    await backend.child.stop();
    const lines = [
      `## Tracing cost, ${new Date().toISOString()}`,
      '',
      `gRPC unary at ${settings.rate} req/s through one sidecar, ${settings.durationS} s measured after ${settings.warmupS} s warm-up, medians of ${settings.rounds} rounds; ${sink.exports()} OTLP exports received.`,
      '',
      ...runsTable(rounds.map(medianRun), 'sidecar CPU µs/req'),
      '',
      'Sidecar CPU µs/req in each round:',
      '',
      ...rounds.slice(1).map((runs) => `- ${runs[0]?.target}: ${runs.map((run) => fmt(run.sidecarsMicrosPerRequest ?? NaN, 1)).join(', ')}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return rounds.flat().some((run) => run.load.failed > 0) ? 1 : 0;
  } finally {
    sink.server.close();
    killAll();
    baseline?.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
