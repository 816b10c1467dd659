/**
 * The fixed-rate gRPC load generator, in its own process:
 * `node dist/test/bench/rateWorker.js <port> <rate> <seconds> <connections> [tls]`.
 * Prints one line, `result <LoadResult as JSON>`, and exits.
 *
 * Open loop with evenly spaced arrivals: request i is due at start + i/rate whatever happened to the
 * ones before it (no coordinated omission), sent on h2c connection i mod <connections>, and timed
 * from the moment it is sent until its trailers arrive. A request counts as successful when the
 * status is 200 and the trailers carry grpc-status 0. h2load's `--rps` is not used here because it
 * sends each connection's share in a burst every 10 ms, so requests queue behind each other and
 * the latency measured is mostly the burst's.
 */
import type { ClientHttp2Session } from 'node:http2';
import { GRPC_MESSAGE, GRPC_PATH, grpcFrame } from './constants.js';
import { grpcCall, openSession } from './grpcCall.js';
import { LatencyRecorder, type LoadResult } from './stats.js';

const [portArg, rateArg, secondsArg, connectionsArg, tlsArg] = process.argv.slice(2);
const port = Number(portArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const connections = Number(connectionsArg);
if (!(port > 0) || !(rate > 0) || !(seconds > 0) || !(connections > 0)) {
  process.stderr.write('usage: rateWorker.js <port> <rate> <seconds> <connections> [tls]\n');
  process.exit(2);
}

const REQUEST_TIMEOUT_MS = 10_000;
const body = grpcFrame(GRPC_MESSAGE);
const headers = { ':method': 'POST', ':path': GRPC_PATH, 'content-type': 'application/grpc', te: 'trailers' };
const latencies = new LatencyRecorder();
const lagMs = new LatencyRecorder();
const failures: Record<string, number> = {};
let failed = 0;
let inFlight = 0;

function fail(why: string): void {
  failed++;
  failures[why] = (failures[why] ?? 0) + 1;
}

function send(session: ClientHttp2Session): void {
  inFlight++;
  grpcCall(session, headers, body, REQUEST_TIMEOUT_MS, (outcome) => {
    inFlight--;
    if (outcome.ok) latencies.record(outcome.ms);
    else fail(outcome.why);
  });
}

async function main(): Promise<void> {
  const sessions = await Promise.all(Array.from({ length: connections }, () => openSession(port, tlsArg === 'tls')));
  for (const session of sessions) session.on('error', () => undefined);
  const total = Math.round(rate * seconds);
  const intervalNs = 1e9 / rate;
  const start = process.hrtime.bigint();
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = Number(process.hrtime.bigint() - start);
      while (next < total && next * intervalNs <= elapsed) {
        lagMs.record((elapsed - next * intervalNs) / 1e6);
        send(sessions[next % connections] as ClientHttp2Session);
        next++;
      }
      if (next >= total) return resolve();
      setTimeout(tick, Math.max(0, (next * intervalNs - Number(process.hrtime.bigint() - start)) / 1e6));
    };
    tick();
  });
  const sendWindowS = Number(process.hrtime.bigint() - start) / 1e9;
  const drainDeadline = Date.now() + REQUEST_TIMEOUT_MS + 1_000;
  while (inFlight > 0 && Date.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 5));
  for (const session of sessions) session.destroy();
  const { p50, p99 } = latencies.percentiles();
  const lag = lagMs.percentiles();
  const result: LoadResult = {
    generator: 'node-http2',
    completed: latencies.size,
    failed: failed + inFlight,
    durationS: sendWindowS,
    reqPerSec: latencies.size / sendWindowS,
    p50Ms: p50,
    p99Ms: p99,
    details: {
      rate,
      connections,
      scheduled: total,
      failures,
      unfinished: inFlight,
      // How late the generator sent requests compared with their schedule (its own event loop).
      sendLagMs: { p50: lag.p50, p99: lag.p99 },
    },
  };
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`rate worker failed: ${(error as Error).message}\n`);
  process.exit(1);
});
