/**
 * The fixed-rate load generator, in its own process:
 * `node dist/test/bench/rateWorker.js <port> <rate> <seconds> <connections> [tls|h2c|h1]`.
 * Prints one line, `result <LoadResult as JSON>`, and exits.
 *
 * Open loop with evenly spaced arrivals: request i is due at start + i/rate whatever happened to the
 * ones before it (no coordinated omission), sent on connection i mod <connections>, and timed from
 * the moment it is sent until the response has ended. gRPC unary (the default; `tls` over TLS)
 * succeeds with status 200 and grpc-status 0 in the trailers; `h2c` and `h1` send `GET /` and succeed
 * with status 200 — `h1` on keep-alive HTTP/1.1 connections, a request waiting for a free one when
 * all are busy (its wait counts: it is the latency the client sees). h2load's `--rps` is not used here because it
 * sends each connection's share in a burst every 10 ms, so requests queue behind each other and
 * the latency measured is mostly the burst's.
 */
import { Agent, request } from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import { GRPC_MESSAGE, GRPC_PATH, grpcFrame } from './constants.js';
import { grpcCall, openSession, type CallOutcome } from './grpcCall.js';
import { LatencyRecorder, type LoadResult } from './stats.js';

const [portArg, rateArg, secondsArg, connectionsArg, modeArg] = process.argv.slice(2);
const mode = modeArg ?? 'grpc';
const port = Number(portArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const connections = Number(connectionsArg);
if (!(port > 0) || !(rate > 0) || !(seconds > 0) || !(connections > 0) || !['grpc', 'tls', 'h2c', 'h1'].includes(mode)) {
  process.stderr.write('usage: rateWorker.js <port> <rate> <seconds> <connections> [tls|h2c|h1]\n');
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

function done(outcome: CallOutcome): void {
  inFlight--;
  if (outcome.ok) latencies.record(outcome.ms);
  else fail(outcome.why);
}

/** GET / over h2c: succeeds with status 200 once the response has ended. */
function h2cGet(session: ClientHttp2Session): void {
  const sentAt = process.hrtime.bigint();
  let status = 0;
  const stream = session.request({ ':path': '/' });
  stream.on('response', (head) => (status = Number(head[':status'])));
  stream.on('data', () => undefined);
  stream.on('error', () => undefined);
  stream.setTimeout(REQUEST_TIMEOUT_MS, () => stream.close());
  stream.on('close', () => done(status === 200 ? { ok: true, ms: Number(process.hrtime.bigint() - sentAt) / 1e6 } : { ok: false, why: status === 0 ? `reset ${stream.rstCode ?? '?'}` : `status ${status}` }));
  stream.end();
}

const h1Agent = new Agent({ keepAlive: true, maxSockets: connections });

/** GET / over HTTP/1.1 on the worker's keep-alive sockets. */
function h1Get(): void {
  const sentAt = process.hrtime.bigint();
  const req = request({ host: '127.0.0.1', port, path: '/', agent: h1Agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
    res.resume();
    res.on('end', () => done(res.statusCode === 200 ? { ok: true, ms: Number(process.hrtime.bigint() - sentAt) / 1e6 } : { ok: false, why: `status ${res.statusCode}` }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (error) => done({ ok: false, why: error.message }));
  req.end();
}

function send(session: ClientHttp2Session | undefined): void {
  inFlight++;
  if (mode === 'h1') h1Get();
  else if (mode === 'h2c') h2cGet(session as ClientHttp2Session);
  else grpcCall(session as ClientHttp2Session, headers, body, REQUEST_TIMEOUT_MS, done);
}

async function main(): Promise<void> {
  const sessions = mode === 'h1' ? [] : await Promise.all(Array.from({ length: connections }, () => openSession(port, mode === 'tls')));
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
        send(sessions[next % connections]);
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
  h1Agent.destroy();
  const { p50, p99, p999 } = latencies.percentiles();
  const lag = lagMs.percentiles();
  const result: LoadResult = {
    generator: 'node-http2',
    completed: latencies.size,
    failed: failed + inFlight,
    durationS: sendWindowS,
    reqPerSec: latencies.size / sendWindowS,
    p50Ms: p50,
    p99Ms: p99,
    p999Ms: p999,
    details: {
      mode,
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
