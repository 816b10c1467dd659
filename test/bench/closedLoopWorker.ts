/**
 * The closed-loop gRPC load generator of the policy comparison, in its own process:
 * `node dist/test/bench/closedLoopWorker.js <port> <calls> <concurrency> <connections> [<hash header> <keys>]`.
 * Prints one line, `result <LoadResult as JSON>`, and exits.
 *
 * Exactly <calls> gRPC unary calls (the benchmark's echo request) with <concurrency> of them in flight
 * at all times: each of <concurrency> lanes sends a call, waits for its trailers, sends the next.
 * Lanes share <connections> h2c connections (lane i uses connection i mod <connections>). Each call is
 * timed from the moment it is sent until its stream closes; it succeeds with status 200 and
 * grpc-status 0. With a hash header, call i carries `<header>: user-<i mod keys>`, so a hashing policy
 * has keys to hash and every key recurs.
 */
import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import { GRPC_MESSAGE, GRPC_PATH, grpcFrame } from './constants.js';
import { grpcCall, openSession } from './grpcCall.js';
import { LatencyRecorder, percentile, type LoadResult } from './stats.js';

const [portArg, callsArg, concurrencyArg, connectionsArg, hashHeader, keysArg] = process.argv.slice(2);
const port = Number(portArg);
const calls = Number(callsArg);
const concurrency = Number(concurrencyArg);
const connections = Number(connectionsArg);
const keys = Number(keysArg ?? 1_000);
if (!(port > 0) || !(calls > 0) || !(concurrency > 0) || !(connections > 0) || !(keys > 0)) {
  process.stderr.write('usage: closedLoopWorker.js <port> <calls> <concurrency> <connections> [<hash header> <keys>]\n');
  process.exit(2);
}

const CALL_TIMEOUT_MS = 10_000;
const body = grpcFrame(GRPC_MESSAGE);
const baseHeaders: OutgoingHttpHeaders = { ':method': 'POST', ':path': GRPC_PATH, 'content-type': 'application/grpc', te: 'trailers' };
const latencies = new LatencyRecorder();
/** The same latencies again, for p90 and the mean (a slow backend's share shows there when it is under 1 %). */
const all: number[] = [];
const failures: Record<string, number> = {};
let failed = 0;

/** One call; resolves when its stream has closed, however it ended. */
function call(session: ClientHttp2Session, index: number): Promise<void> {
  return new Promise((resolve) => {
    const headers = hashHeader === undefined ? baseHeaders : { ...baseHeaders, [hashHeader]: `user-${index % keys}` };
    grpcCall(session, headers, body, CALL_TIMEOUT_MS, (outcome) => {
      if (outcome.ok) {
        latencies.record(outcome.ms);
        all.push(outcome.ms);
      } else {
        failed++;
        failures[outcome.why] = (failures[outcome.why] ?? 0) + 1;
      }
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const sessions = await Promise.all(Array.from({ length: connections }, () => openSession(port)));
  for (const session of sessions) session.on('error', () => undefined);
  let next = 0;
  const lane = async (laneIndex: number): Promise<void> => {
    const session = sessions[laneIndex % connections] as ClientHttp2Session;
    while (next < calls) await call(session, next++);
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, (_, i) => lane(i)));
  const durationS = Number(process.hrtime.bigint() - start) / 1e9;
  for (const session of sessions) session.destroy();
  const { p50, p99 } = latencies.percentiles();
  const sorted = Float64Array.from(all).sort();
  const meanMs = all.reduce((sum, ms) => sum + ms, 0) / Math.max(1, all.length);
  const result: LoadResult = {
    generator: 'node-http2',
    completed: latencies.size,
    failed,
    durationS,
    reqPerSec: latencies.size / durationS,
    p50Ms: p50,
    p99Ms: p99,
    details: {
      calls,
      concurrency,
      connections,
      hashHeader: hashHeader ?? null,
      keys: hashHeader === undefined ? null : keys,
      failures,
      p90Ms: percentile(sorted, 90),
      meanMs,
      maxMs: sorted[sorted.length - 1] ?? NaN,
    },
  };
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`closed-loop worker failed: ${(error as Error).message}\n`);
  process.exit(1);
});
