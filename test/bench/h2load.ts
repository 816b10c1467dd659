import { execFileSync } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { runToCompletion } from './processes.js';
import { LatencyRecorder, type LoadResult } from './stats.js';

/**
 * h2load (nghttp2's load generator) for the h2c and gRPC scenarios. Its summary has no
 * percentiles, so every run writes `--log-file` (one line per request: start µs, status, µs to the
 * end of the response) and p50/p99 are computed from that.
 */

export const H2LOAD_INSTALL = 'apt-get install -y nghttp2-client';

/**
 * The h2load to use with its version line, or undefined when there is none: BENCH_H2LOAD if set
 * (a path; anything not executable counts as missing), else the first h2load on PATH.
 */
export function findH2load(): { path: string; version: string } | undefined {
  const override = process.env['BENCH_H2LOAD'];
  const candidates =
    override !== undefined && override !== ''
      ? [override]
      : (process.env['PATH'] ?? '')
          .split(delimiter)
          .filter((dir) => dir !== '')
          .map((dir) => join(dir, 'h2load'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
    } catch {
      continue;
    }
    try {
      return { path: candidate, version: execFileSync(candidate, ['--version'], { encoding: 'utf8', timeout: 5_000 }).trim() };
    } catch {
      return { path: candidate, version: 'unknown' };
    }
  }
  return undefined;
}

export interface H2loadOptions {
  readonly h2load: string;
  readonly url: string;
  /** Connections (`-c`). */
  readonly clients: number;
  /** Concurrent streams per connection (`-m`). */
  readonly streams: number;
  readonly durationS: number;
  /** Request body file (`-d`, makes the method POST). */
  readonly dataFile?: string;
  readonly headers?: readonly string[];
  /** Where the per-request log goes; removed after parsing. */
  readonly logFile: string;
}

export async function runH2load(options: H2loadOptions): Promise<LoadResult> {
  const args = [
    `--clients=${options.clients}`,
    `--max-concurrent-streams=${options.streams}`,
    `--duration=${options.durationS}`,
    '--threads=1',
    `--log-file=${options.logFile}`,
    // A stuck connection must not outlive the run.
    `--connection-inactivity-timeout=10`,
  ];
  if (options.dataFile !== undefined) args.push(`--data=${options.dataFile}`);
  for (const header of options.headers ?? []) args.push(`--header=${header}`);
  args.push(options.url);
  try {
    const run = await runToCompletion('h2load', options.h2load, args, (options.durationS + 30) * 1_000);
    if (run.code !== 0) throw new Error(`h2load exited with ${run.code}\n${run.stdout.slice(-2_000)}${run.stderr.slice(-2_000)}`);
    return parse(run.stdout, readFileSync(options.logFile, 'utf8'), args);
  } finally {
    rmSync(options.logFile, { force: true });
  }
}

function parse(stdout: string, log: string, args: readonly string[]): LoadResult {
  const finished = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(stdout);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (finished === null || requests === null || codes === null) throw new Error(`cannot parse h2load output:\n${stdout}`);
  const durationS = Number(finished[1]) / (finished[2] === 'ms' ? 1_000 : 1);
  const latencies = new LatencyRecorder();
  let logged = 0;
  for (const line of log.split('\n')) {
    const [, status, micros] = line.split('\t');
    if (status === undefined || micros === undefined) continue;
    logged++;
    const code = Number(status);
    if (code >= 200 && code < 300) latencies.record(Number(micros) / 1_000);
  }
  const { p50, p99 } = latencies.percentiles();
  // `status codes` also counts streams whose headers arrived but which were still open at the end,
  // so completed and failed come from the `requests` line (matching the log file's lines).
  const succeeded = Number(requests[4]);
  return {
    generator: 'h2load',
    completed: succeeded,
    failed: Number(requests[5]) + Number(requests[6]) + Number(requests[7]),
    durationS,
    reqPerSec: succeeded / durationS,
    p50Ms: p50,
    p99Ms: p99,
    details: {
      args,
      h2loadReqPerSec: Number(finished[3]),
      total: Number(requests[1]),
      started: Number(requests[2]),
      done: Number(requests[3]),
      succeeded: Number(requests[4]),
      failed: Number(requests[5]),
      errored: Number(requests[6]),
      timeout: Number(requests[7]),
      statusCodes: { '2xx': Number(codes[1]), '3xx': Number(codes[2]), '4xx': Number(codes[3]), '5xx': Number(codes[4]) },
      loggedRequests: logged,
      latencySamples: latencies.size,
    },
  };
}
