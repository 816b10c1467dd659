import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend, startHttp2Backend } from '../helpers/backends.js';
import { h1Request, h2Request, h2Session } from '../helpers/clients.js';
import { spawnSidecar } from '../helpers/processes.js';
import { soakOr } from '../helpers/soak.js';

/**
 * Response backpressure through a real Tandem process: a backend writes 64 MiB as fast as it can,
 * the client reads 16 KiB every 2 ms (8 MiB/s, ~8 s; under `npm run test:soak` every 10 ms, ~41 s),
 * and Tandem must hold the backend back instead of buffering the difference. Measured on the child's
 * resident set size, and on the backend, which must spend most of the transfer blocked on a full
 * socket or stream. Either rate is a small fraction of what the path carries unthrottled (a 64 MiB
 * body crosses it in well under a second: bodies.test.ts); the body stays 64 MiB because what the
 * kernel's socket buffers alone hold (~10 MiB over HTTP/1.1) must be small beside it.
 */

const MiB = 1024 * 1024;
const BODY_BYTES = 64 * MiB;
const READ_BYTES = 16 * 1024;
const TICK_MS = soakOr(2, 10);
const WRITE_BYTES = 64 * 1024;
const SAMPLE_MS = 100;
const WARMUP_BYTES = 1 * MiB;
const RSS_GROWTH_LIMIT = 32 * MiB;

/** What the backend saw while writing one response. */
interface WriterStats {
  /** Bytes handed to write() so far. */
  written: number;
  /** Time spent waiting for 'drain' (write() said the buffer was full). */
  blockedMs: number;
  startedAt: number;
  /** When the last byte was accepted by write(); undefined until then. */
  doneAt: number | undefined;
}

/** Writes `body` in 64 KiB slices as fast as `sink` accepts them, waiting only when write() returns false. */
async function writeFlatOut(sink: Writable, body: Buffer, stats: WriterStats): Promise<void> {
  stats.startedAt = performance.now();
  for (let offset = 0; offset < body.length && !sink.destroyed; offset += WRITE_BYTES) {
    const chunk = body.subarray(offset, offset + WRITE_BYTES);
    stats.written += chunk.length;
    if (sink.write(chunk)) continue;
    const blockedAt = performance.now();
    await new Promise<void>((resolve) => {
      const done = (): void => {
        sink.off('drain', done).off('close', done);
        resolve();
      };
      sink.on('drain', done).on('close', done);
    });
    stats.blockedMs += performance.now() - blockedAt;
  }
  stats.doneAt = performance.now();
  sink.end();
}

/** What the slow client read. */
interface ReaderStats {
  received: number;
  sha256: string;
  durationMs: number;
}

/**
 * Consumes `stream` at 16 KiB per tick. The stream stays paused (a 'readable' listener, no 'data'
 * listener), so unread bytes stay in its buffer and flow control tells the sender to wait. Each tick
 * earns 16 KiB of credit per TICK_MS elapsed, so timer jitter does not slow the average rate; unused
 * credit is capped at 4 ticks, so a late tick never turns into a fast burst.
 */
function readSlowly(stream: Readable, progress: (received: number) => void): Promise<ReaderStats> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const startedAt = performance.now();
    let received = 0;
    let credit = 0;
    let last = startedAt;
    let ended = false;
    const timer = setInterval(() => {
      const now = performance.now();
      credit = Math.min(credit + ((now - last) / TICK_MS) * READ_BYTES, 4 * READ_BYTES);
      last = now;
      while (credit >= 1 && stream.readableLength > 0) {
        const chunk = stream.read(Math.min(Math.floor(credit), READ_BYTES, stream.readableLength)) as Buffer | null;
        if (chunk === null) break;
        hash.update(chunk);
        received += chunk.length;
        credit -= chunk.length;
      }
      progress(received);
      if (stream.readableLength === 0) stream.read(0); // at end of stream this emits 'end'
    }, TICK_MS);
    stream.on('readable', () => undefined);
    stream.once('end', () => {
      ended = true;
      clearInterval(timer);
      resolve({ received, sha256: hash.digest('hex'), durationMs: performance.now() - startedAt });
    });
    stream.once('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    stream.once('close', () => {
      clearInterval(timer);
      if (!ended) reject(new Error(`response closed after ${received} of ${BODY_BYTES} bytes`));
    });
  });
}

type Protocol = 'http1' | 'http2';

interface CaseResult {
  readonly protocol: Protocol;
  readonly status: number;
  readonly reader: ReaderStats;
  readonly writer: WriterStats;
  readonly rssBaseline: number;
  readonly rssMax: number;
  /** Most bytes the backend had written beyond what the client had read, sampled with the RSS. */
  readonly maxInFlight: number;
}

/** Starts a backend, a Tandem process in front of it, warms the path up, then runs the slow download. */
async function runCase(protocol: Protocol, payload: Buffer): Promise<CaseResult> {
  const writer: WriterStats = { written: 0, blockedMs: 0, startedAt: 0, doneAt: undefined };
  const warmup = payload.subarray(0, WARMUP_BYTES);
  let backendEndpoint: string;
  if (protocol === 'http2') {
    const backend = await startHttp2Backend((stream, headers) => {
      const body = headers[':path'] === '/warmup' ? warmup : payload;
      stream.respond({ ':status': 200, 'content-length': String(body.length) });
      if (body === warmup) stream.end(body);
      else void writeFlatOut(stream, body, writer);
    });
    backendEndpoint = backend.endpoint;
  } else {
    const backend = await startHttp1Backend((req, res) => {
      const body = req.url === '/warmup' ? warmup : payload;
      res.writeHead(200, { 'content-length': String(body.length) });
      if (body === warmup) res.end(body);
      else void writeFlatOut(res, body, writer);
    });
    backendEndpoint = backend.endpoint;
  }
  const sidecar = await spawnSidecar({ upstreams: [{ name: 'bulk', protocol, local_port: 0 }] }, { bulk: [backendEndpoint] });
  const port = sidecar.port('outbound.bulk');

  // Warm-up: connections open, code compiled, buffers allocated once; the baseline is taken after it.
  const warm = protocol === 'http2' ? await h2Request(h2Session(port), { ':path': '/warmup' }) : await h1Request(port, { path: '/warmup' });
  expect(warm.status).toBe(200);
  expect(warm.body.equals(warmup)).toBe(true);
  const rssBaseline = sidecar.rssBytes();

  let rssMax = rssBaseline;
  let maxInFlight = 0;
  let received = 0;
  const sampler = setInterval(() => {
    maxInFlight = Math.max(maxInFlight, writer.written - received);
    try {
      rssMax = Math.max(rssMax, sidecar.rssBytes());
    } catch {
      clearInterval(sampler); // the process is gone; the download fails and says so
    }
  }, SAMPLE_MS);
  try {
    const { status, body } = await openDownload(protocol, port);
    const reader = await readSlowly(body, (n) => (received = n));
    rssMax = Math.max(rssMax, sidecar.rssBytes());
    return { protocol, status, reader, writer, rssBaseline, rssMax, maxInFlight };
  } finally {
    clearInterval(sampler);
  }
}

/** Sends GET /big through Tandem; resolves with the response status and its (paused) body stream. */
async function openDownload(protocol: Protocol, port: number): Promise<{ status: number; body: Readable }> {
  if (protocol === 'http2') {
    const stream = h2Session(port).request({ ':path': '/big' }, { endStream: true });
    const status = await new Promise<number>((resolve, reject) => {
      stream.once('response', (head) => resolve(Number(head[':status'])));
      stream.once('error', reject);
      stream.once('close', () => reject(new Error(`stream closed before a response (rst ${stream.rstCode})`)));
    });
    return { status, body: stream };
  }
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/big', agent: false }, resolve);
    req.once('error', reject);
    req.end();
  });
  return { status: response.statusCode ?? 0, body: response };
}

function backendMs(writer: WriterStats): number {
  return (writer.doneAt ?? NaN) - writer.startedAt;
}

function summarize(result: CaseResult): string {
  const { protocol, reader, writer } = result;
  const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return (
    `${protocol}: ${reader.received} bytes in ${s(reader.durationMs)}; Tandem RSS ${mib(result.rssBaseline)} at start, ` +
    `max ${mib(result.rssMax)}, growth ${mib(result.rssMax - result.rssBaseline)}; backend wrote for ${s(backendMs(writer))}, ` +
    `blocked ${s(writer.blockedMs)}; max in flight ${mib(result.maxInFlight)}`
  );
}

describe('response backpressure through a Tandem process', () => {
  it(
    'holds a fast backend back to a slow reader with bounded memory, h2c to h2c and HTTP/1.1 to HTTP/1.1',
    async () => {
      const payload = randomBytes(BODY_BYTES);
      const expectedSha256 = createHash('sha256').update(payload).digest('hex');

      const results = await Promise.all([runCase('http2', payload), runCase('http1', payload)]);

      const summaries = results.map(summarize);
      console.info(summaries.join('\n'));
      // Soft assertions: both cases report every failure, each with its measurements.
      results.forEach((result, index) => {
        const { reader, writer } = result;
        const summary = summaries[index];
        expect.soft(result.status, summary).toBe(200);
        expect.soft(reader.received, summary).toBe(BODY_BYTES);
        expect.soft(reader.sha256, summary).toBe(expectedSha256);
        // The reader really was slow: 64 MiB at 16 KiB per tick cannot take less than 4,096 ticks.
        expect.soft(reader.durationMs, summary).toBeGreaterThanOrEqual((BODY_BYTES / READ_BYTES) * TICK_MS * 0.95);
        expect.soft(result.rssMax - result.rssBaseline, summary).toBeLessThan(RSS_GROWTH_LIMIT);
        // Control: the backend was held back by the reader, not by a small body. It spent most of the
        // download blocked on write(), and never got far ahead of what the client had read.
        expect.soft(writer.blockedMs, summary).toBeGreaterThan(reader.durationMs * 0.6);
        expect.soft(backendMs(writer), summary).toBeGreaterThan(reader.durationMs * 0.6);
        expect.soft(result.maxInFlight, summary).toBeLessThan(BODY_BYTES / 2);
      });
    },
    soakOr(60_000, 120_000),
  );
});
