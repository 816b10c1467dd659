import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { echoClient, startGrpcBackend, startHttp1Backend } from '../../helpers/backends.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { h1Request, h2Request, h2Session } from '../../helpers/clients.js';
import { grpcFrame, grpcRequestHead } from '../../helpers/grpcCases.js';
import { latencySummary, percentile } from '../../helpers/load.js';
import { startSidecarFor, type TestSidecar } from '../../helpers/sidecar.js';
import { waitFor } from '../../helpers/wait.js';

const MAX_REQUESTS = 10;
const CONCURRENT = 50;
const OVERFLOWS = CONCURRENT - MAX_REQUESTS;
/** An overflow is answered without touching the upstream: from the request's write to its whole reply. */
const OVERFLOW_BOUND_MS = 5;
/** The slowest of the one-at-a-time overflows, allowing for the OS descheduling the test process once. */
const SLOWEST_BOUND_MS = 25;

/** Counts requests a backend holds at once; `release()` answers every held one and any later one at once. */
class HeldRequests {
  inFlight = 0;
  maxInFlight = 0;
  arrived = 0;
  private held: Array<() => void> = [];
  private released = false;

  hold(answer: () => void): void {
    this.arrived++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    const done = (): void => {
      this.inFlight--;
      answer();
    };
    if (this.released) done();
    else this.held.push(done);
  }

  release(): void {
    this.released = true;
    for (const answer of this.held.splice(0)) answer();
  }
}

/** `/clusters` from the admin port, over HTTP as an operator reads it. */
async function requestLimits(mesh: TestSidecar): Promise<{ used: number; limit: number; overflows: number }> {
  const response = await h1Request(mesh.port('admin'), { path: '/clusters' });
  const { clusters } = JSON.parse(response.body.toString()) as { clusters: Array<{ circuit_breakers: { requests: { used: number; limit: number; overflows: number } } }> };
  return clusters[0]?.circuit_breakers.requests as { used: number; limit: number; overflows: number };
}

interface RawReply {
  readonly status: number;
  readonly tandemError: string | undefined;
  /** From the request's write to the end of its reply. */
  readonly latencyMs: number;
}

/**
 * A GET written on an already-open socket, timed from the write to the end of the reply (head and
 * Content-Length body). Raw sockets keep connection setup and client libraries out of the timing.
 */
class RawHttp1Exchange {
  private buffered = '';
  private sentAt = 0;
  reply: RawReply | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawHttp1Exchange> {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    onCleanup(() => socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    return new RawHttp1Exchange(socket);
  }

  /** Writes the request; a socket whose last reply has fully arrived (keep-alive) may send again. */
  send(path: string): void {
    this.buffered = '';
    this.reply = undefined;
    this.sentAt = performance.now();
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: web\r\n\r\n`);
  }

  /** Sends and waits for the whole reply. */
  async exchange(path: string): Promise<RawReply> {
    this.send(path);
    await waitFor(`the reply to ${path}`, () => this.reply !== undefined, 2_000, 0);
    return this.reply as RawReply;
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    const headEnd = this.buffered.indexOf('\r\n\r\n');
    if (headEnd < 0 || this.reply !== undefined) return;
    const head = this.buffered.slice(0, headEnd);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffered.length < headEnd + 4 + length) return;
    this.reply = {
      status: Number(head.slice(9, 12)),
      tandemError: /\r\nx-tandem-error:\s*(\S+)/i.exec(head)?.[1],
      latencyMs: performance.now() - this.sentAt,
    };
  }
}

/**
 * How "at once" is checked. Measured on the 2-core test VM, the 40 overflow replies of a burst of 50
 * arrive 25–55 ms (HTTP/1.1) and 45–105 ms (grpc-js) after their writes, all within a few ms of each
 * other, cold or warm. That is not noise and not an overflow waiting for anything: the client,
 * Tandem and the backend share one event loop, which parses and answers the whole burst in one pass
 * (~0.4 ms a request warm; a CPU profile shows Node's HTTP parser and sockets, Tandem's listener and
 * layers, and ~50 µs per overflow building its TandemError), and the client reads none of its
 * replies until that pass ends. With the client in another process the last of 40 HTTP/1.1
 * overflow replies still came 27–39 ms after its write (a bare Node server answering 503 to the same
 * burst: 9–14 ms), so a 5 ms bound on every request of a burst is a throughput bound this VM cannot
 * meet. Instead: every overflow of the burst must come back while the 10 admitted requests are still
 * held (it never waits for a slot), and overflowing requests sent one at a time, with nothing queued
 * ahead of them, must be answered within 5 ms of their write: measured p50 0.3–1 ms, max 0.6–3.5 ms.
 * With both cores saturated by other processes the median stayed under 1 ms but one or two of 20
 * took 5.5–9.8 ms — the process descheduled, not Tandem waiting — so the bound is on the 90th
 * percentile, with the slowest held to 25 ms.
 */
describe('circuit_breaker.max_requests', () => {
  const PROBES = 20;

  it('HTTP/1.1: of 50 concurrent slow requests with max_requests 10, 40 get 503 TANDEM_OVERFLOW at once and the backend never holds more than 10', async () => {
    const held = new HeldRequests();
    const backend = await startHttp1Backend((req, res) => {
      if (req.url === '/warm') res.end('warm');
      else held.hold(() => res.end('ok'));
    });
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint], { circuit_breaker: { max_requests: MAX_REQUESTS } });
    const port = mesh.port('outbound.web');
    expect((await h1Request(port, { path: '/warm' })).status).toBe(200);
    const exchanges = await Promise.all(Array.from({ length: CONCURRENT }, () => RawHttp1Exchange.open(port)));

    exchanges.forEach((exchange, index) => exchange.send(`/r${index}`));
    await waitFor('40 overflow replies', () => exchanges.filter((exchange) => exchange.reply !== undefined).length >= OVERFLOWS, 5_000, 1);
    await waitFor('the admitted requests to reach the backend', () => held.arrived === MAX_REQUESTS, 2_000, 1);
    const overflowed = exchanges.flatMap((exchange) => (exchange.reply === undefined ? [] : [exchange.reply]));
    expect(overflowed).toHaveLength(OVERFLOWS);
    expect(overflowed.every((reply) => reply.status === 503 && reply.tandemError === 'TANDEM_OVERFLOW')).toBe(true);
    expect(held.inFlight).toBe(MAX_REQUESTS);
    expect(await requestLimits(mesh)).toEqual({ used: MAX_REQUESTS, limit: MAX_REQUESTS, overflows: OVERFLOWS });

    // One at a time on a keep-alive socket that just got its overflow reply, the slots still full.
    const spare = exchanges.find((exchange) => exchange.reply?.status === 503) as RawHttp1Exchange;
    const probes: RawReply[] = [];
    for (let i = 0; i < PROBES; i++) probes.push(await spare.exchange(`/probe${i}`));

    held.release();
    await waitFor('every admitted reply', () => exchanges.every((exchange) => exchange.reply !== undefined), 5_000, 1);
    const served = exchanges.map((exchange) => exchange.reply as RawReply).filter((reply) => reply.status === 200);
    console.info('HTTP/1.1 overflow, write → whole reply:', {
      burst: latencySummary(overflowed.map((reply) => reply.latencyMs)),
      alone: latencySummary(probes.map((reply) => reply.latencyMs)),
    });
    expect(probes.every((reply) => reply.status === 503 && reply.tandemError === 'TANDEM_OVERFLOW')).toBe(true);
    expect(percentile(probes.map((reply) => reply.latencyMs), 90)).toBeLessThan(OVERFLOW_BOUND_MS);
    expect(percentile(probes.map((reply) => reply.latencyMs), 100)).toBeLessThan(SLOWEST_BOUND_MS);
    expect(served).toHaveLength(MAX_REQUESTS);
    expect(held.maxInFlight).toBe(MAX_REQUESTS);
    expect(held.arrived).toBe(MAX_REQUESTS);
    expect(await requestLimits(mesh)).toEqual({ used: 0, limit: MAX_REQUESTS, overflows: OVERFLOWS + PROBES });
  });

  it('gRPC: of 50 concurrent slow calls on one channel with max_requests 10, 40 get UNAVAILABLE TANDEM_OVERFLOW at once and the backend never holds more than 10', async () => {
    const held = new HeldRequests();
    const backend = await startGrpcBackend({
      unary: (call, callback) => {
        if (call.request.toString() === 'warm') return callback(null, Buffer.from('warm'));
        held.hold(() => callback(null, Buffer.from('ok')));
      },
    });
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint], { circuit_breaker: { max_requests: MAX_REQUESTS } });
    const client = echoClient(mesh.port('outbound.echo'));
    const call = (message: string): Promise<{ error: grpc.ServiceError | null; latencyMs: number }> => {
      const sentAt = performance.now();
      return new Promise((resolve) =>
        client.unary(Buffer.from(message), new grpc.Metadata(), { deadline: new Date(Date.now() + 10_000) }, (error) =>
          resolve({ error, latencyMs: performance.now() - sentAt }),
        ),
      );
    };
    expect((await call('warm')).error).toBeNull(); // the channel is connected before the burst

    const settled: Array<{ error: grpc.ServiceError | null; latencyMs: number }> = [];
    const calls = Array.from({ length: CONCURRENT }, (_, index) => call(`r${index}`).then((result) => settled.push(result)));
    await waitFor('40 overflow replies', () => settled.length >= OVERFLOWS, 5_000, 1);
    await waitFor('the admitted calls to reach the backend', () => held.arrived === MAX_REQUESTS, 2_000, 1);
    const overflowed = [...settled];
    expect(overflowed).toHaveLength(OVERFLOWS);
    for (const { error } of overflowed) {
      expect(error?.code).toBe(grpc.status.UNAVAILABLE);
      expect(error?.metadata.get('x-tandem-error')).toEqual(['TANDEM_OVERFLOW']);
      expect(error?.details).toContain(`max_requests (${MAX_REQUESTS}) reached`);
    }
    expect(held.inFlight).toBe(MAX_REQUESTS);
    expect(await requestLimits(mesh)).toEqual({ used: MAX_REQUESTS, limit: MAX_REQUESTS, overflows: OVERFLOWS });

    // Probes on a raw h2c session: grpc-js spends 1–4 ms of its own per call on this VM, which would
    // be measured along with Tandem's answer.
    const session = h2Session(mesh.port('outbound.echo'));
    await h2Request(session, grpcRequestHead('Unary'), grpcFrame('connect')); // an overflow too: the session is up before timing
    const probes: Array<{ grpcStatus: unknown; tandemError: unknown; headersEndedStream: boolean; latencyMs: number }> = [];
    for (let i = 0; i < PROBES; i++) {
      const sentAt = performance.now();
      const response = await h2Request(session, grpcRequestHead('Unary'), grpcFrame(`probe${i}`));
      probes.push({
        grpcStatus: response.headers['grpc-status'],
        tandemError: response.headers['x-tandem-error'],
        headersEndedStream: response.headersEndedStream,
        latencyMs: performance.now() - sentAt,
      });
    }

    held.release();
    await Promise.all(calls);
    console.info('gRPC overflow, send → status (burst: grpc-js, alone: raw h2c):', {
      burst: latencySummary(overflowed.map((result) => result.latencyMs)),
      alone: latencySummary(probes.map((result) => result.latencyMs)),
    });
    for (const probe of probes) {
      expect(probe).toMatchObject({ grpcStatus: String(grpc.status.UNAVAILABLE), tandemError: 'TANDEM_OVERFLOW', headersEndedStream: true });
    }
    expect(percentile(probes.map((probe) => probe.latencyMs), 90)).toBeLessThan(OVERFLOW_BOUND_MS);
    expect(percentile(probes.map((probe) => probe.latencyMs), 100)).toBeLessThan(SLOWEST_BOUND_MS);
    expect(settled.filter(({ error }) => error === null)).toHaveLength(MAX_REQUESTS);
    expect(held.maxInFlight).toBe(MAX_REQUESTS);
    expect(held.arrived).toBe(MAX_REQUESTS);
    expect(await requestLimits(mesh)).toEqual({ used: 0, limit: MAX_REQUESTS, overflows: OVERFLOWS + 1 + PROBES });
  });
});
