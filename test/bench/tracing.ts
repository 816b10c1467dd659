/**
 * What tracing costs (`node dist/test/bench/tracing.js`, also part of `npm run bench`): gRPC unary at
 * a fixed rate (BENCH_RATE, 1000 req/s) through one sidecar process to a gRPC backend, with tracing
 * off, on at sample_ratio 1.0 and on at 0.01 (spans exported over OTLP/HTTP to a sink in this process
 * that answers and discards), beside the backend called directly, in one run. Reports p50/p99, what
 * the sidecar adds, and its CPU per request. Settings: BENCH_DURATION, BENCH_WARMUP, BENCH_RATE.
 * Results in docs/benchmarks.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { installCleanup, killAll } from './processes.js';
import { measure, runBenchmark, runsTable, sidecarRunSettings, startSidecar, type Run } from './sidecarRuns.js';
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

async function main(): Promise<number> {
  installCleanup(() => {
    killAll();
    return Promise.resolve();
  });
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-tracing-'));
  const sink = await startSink();
  try {
    const backend = await startBackend('grpc');
    const runs: Run[] = [await measure(settings, 'direct', backend.port, [])];
    const modes: ReadonlyArray<readonly [string, Record<string, unknown> | undefined]> = [
      ['tracing off', undefined],
      ['tracing on, sample_ratio 1.0', { otlp_endpoint: sink.endpoint, sample_ratio: 1 }],
      ['tracing on, sample_ratio 0.01', { otlp_endpoint: sink.endpoint, sample_ratio: 0.01 }],
    ];
    for (const [name, tracing] of modes) {
      const modeDir = join(dir, String(runs.length));
      mkdirSync(modeDir);
      writeFileSync(join(modeDir, 'endpoints.yaml'), stringify({ services: { echo: [`127.0.0.1:${backend.port}`] } }));
      const sidecar = await startSidecar(
        modeDir,
        'sidecar',
        { discovery: { static: { file: './endpoints.yaml' } }, upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0 }], ...(tracing === undefined ? {} : { tracing }) },
        ['outbound.echo'],
      );
      runs.push(await measure(settings, name, sidecar.ports.get('outbound.echo') as number, [sidecar]));
      await sidecar.child.stop();
    }
    await backend.child.stop();
    const lines = [
      `## Tracing cost, ${new Date().toISOString()}`,
      '',
      `gRPC unary at ${settings.rate} req/s through one sidecar, ${settings.durationS} s measured after ${settings.warmupS} s warm-up; ${sink.exports()} OTLP exports received.`,
      '',
      ...runsTable(runs, 'sidecar CPU µs/req'),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return runs.some((run) => run.load.failed > 0) ? 1 : 0;
  } finally {
    sink.server.close();
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
