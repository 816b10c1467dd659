import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { spawnSidecar, type SidecarProcess } from '../helpers/processes.js';
import { scrapeMetrics } from '../helpers/prometheus.js';
import { startRecordingBackend, type RecordingBackend } from '../helpers/recordingBackend.js';
import { connectionsFrom, localPortsOf } from '../helpers/procSockets.js';
import { prepareSlowHttpTest, requireSlowHttpTest, type PreparedSlowHttpTest, type SlowHttpRun } from '../helpers/slowHttpTest.js';
import { runUnderAttack, startLegitLoad, summarize, type AttackReport } from '../helpers/underAttack.js';
import { sleep, waitFor } from '../helpers/wait.js';

/**
 * Slow clients (reliability-matrix S1–S3), each from Debian's slowhttptest against a gateway with
 * short limits (Envoy's test style: the limits are configuration, so a test need not wait minutes),
 * while a legitimate client's load goes through the same listener. Beside slowhttptest, a few
 * witness connections of the test's own time exactly when Tandem closes them.
 */

const HEADERS_TIMEOUT_MS = 2_000;
const REQUEST_TIMEOUT_MS = 3_000;
const STREAM_IDLE_TIMEOUT_MS = 2_000;
/** A slow reader whose whole response Tandem has handed to the kernel is an idle connection. */
const IDLE_TIMEOUT_MS = 3_000;
/** Node looks for expired heads and requests this often (listener/servers.ts). */
const CHECK_INTERVAL_MS = 250;
/** Scheduling slack on a loaded 2-core machine. */
const SLACK_MS = 500;
/**
 * slowhttptest's test length (-l) per attack window, scaled down from the matrix's 25–40 s. It ends
 * sooner when the server has closed all its connections, which is what S1 and S2 look for.
 */
const ATTACK_SECONDS = 8;
/**
 * The slow-read response: 32 times what Tandem may hold of it, yet small enough that 200 of them in
 * the kernel's socket buffers stay clear of its tcp_mem pressure mark (8 MiB ones reached it).
 */
const BIG_BODY = Buffer.alloc(4 * 2 ** 20, 'x');
/**
 * What one slow reader may cost Tandem: the response's writable buffer (Node's 16 KiB high-water
 * mark, overshot by at most one chunk), one upstream read (≤64 KiB) held while the body is paused,
 * and the two connections' own objects. The kernel's socket buffers are not in Tandem's RSS.
 */
const PER_CONNECTION_BOUND = 128 * 1024;

async function slowGateway(backend: RecordingBackend, streamIdleTimeoutMs = STREAM_IDLE_TIMEOUT_MS, idleTimeoutMs = 3_600_000): Promise<SidecarProcess> {
  return spawnSidecar(
    {
      upstreams: [{ name: 'web' }],
      gateways: [
        {
          name: 'edge',
          address: '127.0.0.1',
          routes: [{ upstream: 'web', stream_idle_timeout: `${streamIdleTimeoutMs}ms` }],
          request_headers_timeout: `${HEADERS_TIMEOUT_MS}ms`,
          request_timeout: `${REQUEST_TIMEOUT_MS}ms`,
          idle_timeout: `${idleTimeoutMs}ms`,
        },
      ],
    },
    { web: [backend.endpoint] },
  );
}

async function guarded(sidecar: SidecarProcess, reason: string): Promise<number> {
  return (await scrapeMetrics(sidecar.port('admin'))).sum('tandem_listener_guarded_total', { listener: 'gateway.edge', reason });
}

/** A connection that sends `first`, then `trickle` every 500 ms; resolves with ms from the first byte to the server's close, and what it received. */
function witness(port: number, first: string, trickle: string): Promise<{ closedAfterMs: number; received: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    onCleanup(() => socket.destroy());
    let received = '';
    let startedAt = 0;
    let ticker: NodeJS.Timeout | undefined;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (received += text));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      startedAt = performance.now();
      socket.write(first);
      ticker = setInterval(() => socket.write(trickle), 500);
    });
    socket.once('close', () => {
      clearInterval(ticker);
      resolve({ closedAfterMs: performance.now() - startedAt, received });
    });
  });
}

/** A backend answering `/big` with BIG_BODY, anything else with `ok`. */
function bigOnRequest(req: IncomingMessage, res: ServerResponse): void {
  res.end(req.url === '/big' ? BIG_BODY : 'ok');
}

/** Asks for `/big` and never reads a byte of the answer. */
function neverReading(port: number): Socket {
  const socket = connect({ host: '127.0.0.1', port }, () => socket.write('GET /big HTTP/1.1\r\nHost: app\r\n\r\n'));
  socket.on('error', () => undefined);
  socket.pause();
  onCleanup(() => socket.destroy());
  return socket;
}

function expectQuietUnderAttack(report: AttackReport): void {
  expect(report.failures, summarize(report)).toEqual([]);
  expect(report.attackedP99Ms, summarize(report)).toBeLessThanOrEqual(2 * report.quietP99Ms);
}

/** What a failure message needs of each slowhttptest run. */
function describeRuns(runs: readonly SlowHttpRun[]): string {
  return JSON.stringify(runs.map((run) => ({ endedOnSecond: run.endedOnSecond, allClosed: run.allClosed, peakConnected: Math.max(...run.seconds.map((second) => second.connected)) })));
}

interface SlowAttack {
  readonly report: AttackReport;
  readonly runs: SlowHttpRun[];
  readonly witnesses: Array<{ closedAfterMs: number; received: string }>;
}

/**
 * Two slowhttptest runs (`args`, against `/slow`), one per attack window, while the legitimate client's
 * load goes through the same listener; beside each, two witness connections that send `first` and then
 * `trickle` every 500 ms.
 */
async function slowAttackUnderLoad(sidecar: SidecarProcess, args: readonly string[], first: string, trickle: string): Promise<SlowAttack> {
  const port = sidecar.port('gateway.edge');
  const load = await startLegitLoad('http1', port, 250);
  const runs: SlowHttpRun[] = [];
  const witnesses: Array<{ closedAfterMs: number; received: string }> = [];
  const attackers = [0, 1].map(() => prepareSlowHttpTest([...args, '-u', `http://127.0.0.1:${port}/slow`], ATTACK_SECONDS));
  const report = await runUnderAttack({
    load,
    rounds: 2,
    windowMs: 3_000,
    rssBytes: () => sidecar.rssBytes(),
    attack: async (round) => {
      const [run, ...seen] = await Promise.all([(attackers[round] as PreparedSlowHttpTest).start().done, witness(port, first, trickle), witness(port, first, trickle)]);
      runs.push(run);
      witnesses.push(...seen);
    },
  });
  return { report, runs, witnesses };
}

/** Every witness was answered 408 and closed at `timeoutMs` after its first byte (Node checks every CHECK_INTERVAL_MS). */
function expectTimedOut(witnesses: SlowAttack['witnesses'], timeoutMs: number): void {
  for (const w of witnesses) {
    expect(w.closedAfterMs).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(w.closedAfterMs).toBeLessThanOrEqual(timeoutMs + CHECK_INTERVAL_MS + SLACK_MS);
    expect(w.received).toMatch(/^HTTP\/1\.1 408 /);
  }
}

/** Every slowhttptest connection closed by the run's `second`, the service available throughout. */
function expectAllClosed(runs: readonly SlowHttpRun[], second: number): void {
  for (const run of runs) {
    expect(run.allClosed, run.output).toBe(true);
    expect(run.endedOnSecond, run.output).toBeLessThanOrEqual(second);
    expect(run.seconds.every((s) => s.serviceAvailable), run.output).toBe(true);
  }
}

describe('slow HTTP/1.1 clients at the gateway', () => {
  beforeAll(() => requireSlowHttpTest());

  it('S1 slowloris: every connection closed at request_headers_timeout (408), service available throughout', { timeout: 60_000 }, async () => {
    const backend = await startRecordingBackend();
    const sidecar = await slowGateway(backend);
    const { report, runs, witnesses } = await slowAttackUnderLoad(sidecar, ['-H', '-c', '150', '-i', '3', '-r', '50', '-p', '2'], 'GET /slow HTTP/1.1\r\nHost: app\r\n', 'X-Slow: 1\r\n');
    console.log(
      `[S1] ${summarize(report)}; slowhttptest ${describeRuns(runs)}; witnesses closed after ${witnesses.map((w) => w.closedAfterMs.toFixed(0)).join(', ')} ms; ` +
        `timeouts counted ${await guarded(sidecar, 'http1_request_headers_timeout')}; backend requests ${backend.requests.filter((r) => r.url !== '/legit').length} not legit`,
    );
    expectQuietUnderAttack(report);
    expectTimedOut(witnesses, HEADERS_TIMEOUT_MS);
    // 150 connections opened over 3 s, each closed 2–2.25 s after its first byte: all by ~5.25 s
    // (slowhttptest counts whole seconds). On Node's defaults all 150 would be open at its -l.
    expectAllClosed(runs, 6);
    expect(await guarded(sidecar, 'http1_request_headers_timeout')).toBeGreaterThanOrEqual(2 * 150 + witnesses.length);
    // What reached the backend of /slow is slowhttptest's probes (whole requests, one a second at
    // most), never a slow head, which carries its follow-up headers.
    const slow = backend.requests.filter((request) => request.url === '/slow');
    expect(slow.length).toBeLessThanOrEqual(2 * ATTACK_SECONDS);
    expect(slow.filter((request) => request.headers.referer !== 'TESTING_PURPOSES_ONLY' || request.headers['x-slow'] !== undefined)).toEqual([]);
  });

  it('S2 slow body: closed at request_timeout (408), the upstream request cancelled', { timeout: 60_000 }, async () => {
    const backend = await startRecordingBackend();
    const sidecar = await slowGateway(backend);
    const post = 'POST /slow HTTP/1.1\r\nHost: app\r\nContent-Length: 8192\r\n\r\n';
    const { report, runs, witnesses } = await slowAttackUnderLoad(sidecar, ['-B', '-c', '150', '-i', '1', '-r', '50', '-s', '8192', '-p', '2'], post, 'a');
    // The cancelled upstream requests end (the backend sees their connections close).
    await waitFor('the backend to see every slow request end', () => backend.inFlight() === 0, 5_000);
    const slow = backend.requests.filter((request) => request.url === '/slow');
    console.log(
      `[S2] ${summarize(report)}; slowhttptest ${describeRuns(runs)}; witnesses closed after ${witnesses.map((w) => w.closedAfterMs.toFixed(0)).join(', ')} ms; ` +
        `timeouts counted ${await guarded(sidecar, 'http1_request_timeout')}; backend: ${slow.length} slow requests, ${slow.filter((r) => r.aborted).length} cancelled, ${slow.filter((r) => r.complete).length} complete, ${backend.rawBytes()} raw bytes`,
    );
    expectQuietUnderAttack(report);
    expectTimedOut(witnesses, REQUEST_TIMEOUT_MS);
    // Opened over 3 s, each closed 3–3.25 s after its first byte: all by ~6.25 s.
    expectAllClosed(runs, 7);
    expect(await guarded(sidecar, 'http1_request_timeout')).toBeGreaterThanOrEqual(2 * 150 + witnesses.length);
    // Streamed on as it came, every slow request was cancelled upstream (the few complete ones are
    // slowhttptest's probes, whole requests).
    expect(slow.filter((request) => request.aborted).length).toBeGreaterThanOrEqual(2 * 150 + witnesses.length);
    expect(slow.filter((request) => request.complete).length).toBeLessThanOrEqual(2 * ATTACK_SECONDS);
  });

  it('S3 slow read: the response is held by backpressure, the connection closed at stream_idle_timeout or idle_timeout', { timeout: 60_000 }, async () => {
    const backend = await startRecordingBackend(bigOnRequest);
    const sidecar = await slowGateway(backend, STREAM_IDLE_TIMEOUT_MS, IDLE_TIMEOUT_MS);
    const port = sidecar.port('gateway.edge');
    const load = await startLegitLoad('http1', port, 250);
    const runs: SlowHttpRun[] = [];
    const held: Array<{ early: number; late: number }> = [];
    const attackers = [0, 1].map(() =>
      prepareSlowHttpTest(['-X', '-c', '100', '-r', '50', '-w', '1', '-y', '2', '-n', '5', '-z', '32', '-p', '3', '-u', `http://127.0.0.1:${port}/big`], ATTACK_SECONDS),
    );
    const report = await runUnderAttack({
      load,
      rounds: 2,
      windowMs: 3_000,
      rssBytes: () => sidecar.rssBytes(),
      attack: async (round) => {
        const witnesses = [neverReading(port), neverReading(port)]; // beside slowhttptest's 32 bytes every 5 s
        const attack = (attackers[round] as PreparedSlowHttpTest).start();
        const heldNow = (): number => {
          const attackerPorts = localPortsOf(attack.pid);
          for (const socket of witnesses) attackerPorts.add(socket.localPort ?? 0);
          return connectionsFrom(sidecar.pid, attackerPorts);
        };
        // 100 opened over 2 s: before the first is 2 s old Tandem holds most of them. Each is cut
        // stream_idle_timeout after its body stopped on backpressure, or, if the kernel's socket
        // buffers took the whole response, idle_timeout after Tandem handed over its last byte. By
        // ramp + idle_timeout + 0.5 s Tandem holds none, while the attacker still holds all (with
        // unread bytes in its sockets).
        await sleep(1_500);
        const early = heldNow();
        await sleep(2_000 + IDLE_TIMEOUT_MS + SLACK_MS - 1_500);
        held.push({ early, late: heldNow() });
        runs.push(await attack.done);
      },
    });
    const slowReads = backend.requests.filter((request) => request.url === '/big').length;
    const growth = report.rssPeakBytes - report.rssStartBytes;
    console.log(
      `[S3] ${summarize(report)}; ${slowReads} slow-read requests; ` +
        `attacker connections Tandem held at 1.5 s and ${2_000 + IDLE_TIMEOUT_MS + SLACK_MS} ms: ${JSON.stringify(held)}; RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB; slowhttptest ${describeRuns(runs)}`,
    );
    expectQuietUnderAttack(report);
    expect(slowReads).toBeGreaterThanOrEqual(2 * 100);
    for (const { early, late } of held) {
      expect(early).toBeGreaterThanOrEqual(50);
      expect(late).toBe(0);
    }
    // V8's young generation grown to its largest under the burst (3 × 16 MiB semi-spaces), plus the
    // per-connection bound measured below for each attacking connection.
    expect(growth).toBeLessThanOrEqual(48 * 2 ** 20 + slowReads * PER_CONNECTION_BOUND);
  });

  it('S3 slow read: a connection that does not read holds at most 128 KiB of Tandem memory', { timeout: 30_000 }, async () => {
    const backend = await startRecordingBackend(bigOnRequest);
    const sidecar = await slowGateway(backend, 20_000); // none is cut while measured
    const port = sidecar.port('gateway.edge');
    const held = async (count: number): Promise<number> => {
      const expected = backend.requests.length + count;
      for (let i = 0; i < count; i++) neverReading(port);
      await waitFor(`${count} more slow reads at the backend`, () => backend.requests.length >= expected, 5_000);
      await sleep(1_500); // their bodies have stopped on backpressure by now
      return sidecar.rssBytes();
    };
    // The first 50 take the one-off costs (V8's heap growing, code compiled); the next 50 cost only
    // what each connection holds. (100 in all keeps the kernel's share, up to a few MiB of each
    // response in socket buffers, well below its tcp_mem pressure mark.)
    const first = await held(50);
    const second = await held(50);
    const perConnection = (second - first) / 50;
    console.log(`[S3 memory] RSS ${(first / 2 ** 20).toFixed(1)} MiB with 50 slow readers, ${(second / 2 ** 20).toFixed(1)} MiB with 100: ${(perConnection / 1024).toFixed(0)} KiB per connection`);
    expect(perConnection).toBeLessThanOrEqual(PER_CONNECTION_BOUND);
  });
});
