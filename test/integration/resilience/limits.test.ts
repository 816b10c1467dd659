import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { echoClient, startGrpcBackend, startHttp1Backend } from '../../helpers/backends.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { h1Request, h2Request, h2Session } from '../../helpers/clients.js';
import { grpcFrame, grpcRequestHead } from '../../helpers/grpcCases.js';
import { startSidecarFor, type TestSidecar } from '../../helpers/sidecar.js';
import { waitFor } from '../../helpers/wait.js';

const MAX_REQUESTS = 10;
const CONCURRENT = 50;
const OVERFLOWS = CONCURRENT - MAX_REQUESTS;

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
}

/**
 * A GET written on an already-open socket, its reply read to the end (head and Content-Length body).
 * All 50 sockets are open before the burst, so the requests reach Tandem together.
 */
class RawHttp1Exchange {
  private buffered = '';
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
    };
  }
}

/**
 * How "at once" is checked: every overflow of the burst must come back while the 10 admitted
 * requests are still held (it never waits for a slot), and overflowing requests sent one at a time,
 * with nothing queued ahead of them, are refused too. How fast those answers are is a benchmark's
 * question, not a pass/fail bound on a shared 2-core VM: `BENCH_SCENARIOS=overflow` (npm run bench,
 * test/bench/overflowLatency.ts) times them from another process beside a bare Node server refusing
 * the same requests, against the bounds this test used to hold them to (p90 under 5 ms). Timed here,
 * the burst's replies took 25–105 ms, not from waiting but because client, Tandem and backend share
 * one event loop that parses and answers the whole burst in one pass before the client reads any.
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
    expect(probes.every((reply) => reply.status === 503 && reply.tandemError === 'TANDEM_OVERFLOW')).toBe(true);
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
    const call = (message: string): Promise<{ error: grpc.ServiceError | null }> =>
      new Promise((resolve) => client.unary(Buffer.from(message), new grpc.Metadata(), { deadline: new Date(Date.now() + 10_000) }, (error) => resolve({ error })));
    expect((await call('warm')).error).toBeNull(); // the channel is connected before the burst

    const settled: Array<{ error: grpc.ServiceError | null }> = [];
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

    // Probes one at a time on a raw h2c session, so each is seen exactly as Tandem answered it.
    const session = h2Session(mesh.port('outbound.echo'));
    await h2Request(session, grpcRequestHead('Unary'), grpcFrame('connect')); // an overflow too
    const probes: Array<{ grpcStatus: unknown; tandemError: unknown; headersEndedStream: boolean }> = [];
    for (let i = 0; i < PROBES; i++) {
      const response = await h2Request(session, grpcRequestHead('Unary'), grpcFrame(`probe${i}`));
      probes.push({ grpcStatus: response.headers['grpc-status'], tandemError: response.headers['x-tandem-error'], headersEndedStream: response.headersEndedStream });
    }

    held.release();
    await Promise.all(calls);
    for (const probe of probes) {
      expect(probe).toMatchObject({ grpcStatus: String(grpc.status.UNAVAILABLE), tandemError: 'TANDEM_OVERFLOW', headersEndedStream: true });
    }
    expect(settled.filter(({ error }) => error === null)).toHaveLength(MAX_REQUESTS);
    expect(held.maxInFlight).toBe(MAX_REQUESTS);
    expect(held.arrived).toBe(MAX_REQUESTS);
    expect(await requestLimits(mesh)).toEqual({ used: 0, limit: MAX_REQUESTS, overflows: OVERFLOWS + 1 + PROBES });
  });
});
