import { connect as h2Connect } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { spawnSidecar, type SidecarProcess } from '../helpers/processes.js';
import { scrapeMetrics } from '../helpers/prometheus.js';
import { rawExchange, type RawExchange } from '../helpers/rawExchange.js';
import { startRecordingBackend, type RecordingBackend } from '../helpers/recordingBackend.js';
import { runUnderAttack, startLegitLoad, summarize } from '../helpers/underAttack.js';

/**
 * Request smuggling and malformed HTTP/1.1 (reliability-matrix C5, C6, C7): every shape is answered
 * by the gateway itself and the connection closed; the backend, which records every request its own
 * parser reads, never sees one of them, nor a request hidden in one's body (`/smuggled`). Sent under a
 * legitimate client's load, which must not notice.
 */

const HEAD = 'Host: app\r\n';
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n';

interface Shape {
  readonly name: string;
  readonly bytes: string;
  readonly status: number;
  /** The `tandem_listener_guarded_total` reason it counts as. */
  readonly reason: string;
  /** Answered without closing the connection (its framing is sound); every other shape closes it. */
  readonly keepsConnection?: boolean;
}

const SHAPES: readonly Shape[] = [
  { name: 'CL+TE', bytes: `POST /a HTTP/1.1\r\n${HEAD}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 400, reason: 'http1_bad_request' },
  { name: 'TE+CL', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 400, reason: 'http1_bad_request' },
  { name: 'duplicate equal Content-Length', bytes: `POST /a HTTP/1.1\r\n${HEAD}Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi`, status: 400, reason: 'http1_bad_request' },
  { name: 'Content-Length with a sign', bytes: `POST /a HTTP/1.1\r\n${HEAD}Content-Length: +2\r\n\r\nhi`, status: 400, reason: 'http1_bad_request' },
  { name: 'TE chunked, gzip', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, status: 400, reason: 'http1_bad_request' },
  { name: 'TE duplicated', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400, reason: 'http1_bad_request' },
  { name: 'space before colon', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 400, reason: 'http1_bad_request' },
  { name: 'obs-fold', bytes: `GET /a HTTP/1.1\r\n${HEAD}X-Folded: a\r\n b\r\n\r\n`, status: 400, reason: 'http1_bad_request' },
  { name: 'bare LF', bytes: `GET /a HTTP/1.1\nHost: app\n\n`, status: 400, reason: 'http1_bad_request' },
  { name: 'no Host', bytes: 'GET /a HTTP/1.1\r\n\r\n', status: 400, reason: 'http1_bad_request' },
  { name: 'NUL in a value', bytes: `GET /a HTTP/1.1\r\n${HEAD}X-Nul: a\0b\r\n\r\n`, status: 400, reason: 'http1_bad_request' },
  { name: 'bad chunk size', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n`, status: 400, reason: 'http1_bad_request' },
  { name: 'bad chunk extension', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n`, status: 400, reason: 'http1_bad_request' },
  // What llhttp passes and Tandem refuses (RFC 9112 §6.1).
  { name: 'TE gzip, chunked', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, status: 501, reason: 'http1_transfer_encoding' },
  { name: 'TE xchunked', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, status: 501, reason: 'http1_transfer_encoding' },
  { name: 'TE identity', bytes: `POST /a HTTP/1.1\r\n${HEAD}Transfer-Encoding: identity\r\n\r\n`, status: 501, reason: 'http1_transfer_encoding' },
  { name: 'HTTP/1.0 with TE', bytes: `POST /a HTTP/1.0\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 400, reason: 'http1_transfer_encoding' },
  // Over max_request_headers_kb (8 here).
  { name: 'head over 8 KiB', bytes: `GET /a HTTP/1.1\r\n${HEAD}X-Big: ${'a'.repeat(9 * 1024)}\r\n\r\n`, status: 431, reason: 'http1_headers_too_large' },
  // headers_with_underscores: reject (the gateway's default). A well-framed request: the connection may stay.
  { name: 'underscored name', bytes: `GET /a HTTP/1.1\r\n${HEAD}X_Forwarded_For: 1.2.3.4\r\n\r\n`, status: 400, reason: 'headers_with_underscores', keepsConnection: true },
];

/** Allowed shapes beside them, so the backend's count can be seen to move. */
const ALLOWED = [
  `POST /ok HTTP/1.1\r\n${HEAD}Transfer-Encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n`,
  `POST /ok HTTP/1.1\r\n${HEAD}Content-Length: 2\r\n\r\nhi`,
];

async function gatewayWith(backend: RecordingBackend, extra: Record<string, unknown> = {}): Promise<SidecarProcess> {
  return spawnSidecar(
    { upstreams: [{ name: 'web' }], gateways: [{ name: 'edge', address: '127.0.0.1', routes: [{ upstream: 'web' }], max_request_headers_kb: 8, ...extra }] },
    { web: [backend.endpoint] },
  );
}

async function guarded(sidecar: SidecarProcess, reason: string): Promise<number> {
  return (await scrapeMetrics(sidecar.port('admin'))).sum('tandem_listener_guarded_total', { listener: 'gateway.edge', reason });
}

describe('HTTP/1.1 request smuggling shapes at the gateway', () => {
  it('answers each itself and closes, under load, and the backend never sees one', async () => {
    const backend = await startRecordingBackend();
    const sidecar = await gatewayWith(backend);
    const port = sidecar.port('gateway.edge');
    const load = await startLegitLoad('http1', port, 250);
    const rounds = 4;
    const seen = new Map<string, RawExchange[]>();
    const allowed: RawExchange[] = [];
    // One connection at a time, as a scanner would, across the window.
    const attack = async (): Promise<void> => {
      for (const shape of SHAPES) {
        const exchange = await rawExchange(port, shape.bytes);
        seen.set(shape.name, [...(seen.get(shape.name) ?? []), exchange]);
      }
      for (const bytes of ALLOWED) allowed.push(await rawExchange(port, bytes));
    };
    // Once before the measured windows, as the legitimate client warms up before its load: the
    // first pass through each refusal path costs V8 a compile, once per process.
    await attack();
    const report = await runUnderAttack({ load, rounds, windowMs: 750, rssBytes: () => sidecar.rssBytes(), attack });
    expect(report.failures, summarize(report)).toEqual([]);
    expect(report.attackedP99Ms, summarize(report)).toBeLessThanOrEqual(2 * report.quietP99Ms);

    const table = SHAPES.map((shape) => `${shape.name}: ${JSON.stringify(seen.get(shape.name)?.map((exchange) => [exchange.statuses, exchange.closed]))}`).join('\n');
    for (const shape of SHAPES) {
      const exchanges = seen.get(shape.name) ?? [];
      expect(exchanges.map((exchange) => exchange.statuses), `${shape.name}\n${table}`).toEqual(Array.from({ length: rounds + 1 }, () => [shape.status]));
      expect(exchanges.map((exchange) => exchange.closed), shape.name).toEqual(Array.from({ length: rounds + 1 }, () => shape.keepsConnection !== true));
    }
    expect(allowed.map((exchange) => exchange.statuses)).toEqual(Array.from({ length: (rounds + 1) * ALLOWED.length }, () => [200]));
    // The backend read the allowed requests and the legitimate load, nothing else.
    const attackerRequests = backend.requests.filter((request) => request.url !== '/legit');
    expect(attackerRequests.map((request) => request.url)).toEqual(Array.from({ length: (rounds + 1) * ALLOWED.length }, () => '/ok'));

    const expected = new Map<string, number>();
    for (const shape of SHAPES) expected.set(shape.reason, (expected.get(shape.reason) ?? 0) + rounds + 1);
    for (const [reason, count] of expected) expect(await guarded(sidecar, reason), reason).toBe(count);
    console.log(`[smuggling] ${summarize(report)}; sidecar log lines ${sidecar.stderr().split('\n').length}; backend requests ${backend.requests.length} (${attackerRequests.length} from the attacker), ${backend.rawBytes()} raw bytes`);
  });
});

describe('headers_with_underscores', () => {
  const UNDERSCORED = `GET /u HTTP/1.1\r\n${HEAD}X_Forwarded_For: 1.2.3.4\r\nX-Plain: yes\r\n\r\n`;

  /** An h2c request with an underscored header: the status, or the stream's error code. */
  async function h2Request(port: number): Promise<number | string> {
    const session = h2Connect(`http://127.0.0.1:${port}`);
    onCleanup(() => session.destroy());
    session.on('error', () => undefined);
    return new Promise((resolve) => {
      const stream = session.request({ ':path': '/u', x_forwarded_for: '1.2.3.4', 'x-plain': 'yes' });
      stream.on('response', (head) => resolve(Number(head[':status'])));
      stream.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      stream.resume();
      stream.end();
    });
  }

  it('reject (the gateway default): 400 on HTTP/1.1 and HTTP/2, counted, nothing upstream', async () => {
    const backend = await startRecordingBackend();
    const sidecar = await gatewayWith(backend);
    const port = sidecar.port('gateway.edge');
    expect((await rawExchange(port, UNDERSCORED)).statuses).toEqual([400]);
    expect(await h2Request(port)).toBe(400);
    expect(backend.requests).toEqual([]);
    expect(await guarded(sidecar, 'headers_with_underscores')).toBe(2);
  });

  it('drop: the request goes on without those headers, on both protocols', async () => {
    const backend = await startRecordingBackend();
    const sidecar = await gatewayWith(backend, { headers_with_underscores: 'drop' });
    const port = sidecar.port('gateway.edge');
    expect((await rawExchange(port, UNDERSCORED)).statuses).toEqual([200]);
    expect(await h2Request(port)).toBe(200);
    expect(backend.requests.map((request) => [request.headers['x_forwarded_for'], request.headers['x-plain']])).toEqual([
      [undefined, 'yes'],
      [undefined, 'yes'],
    ]);
    expect(await guarded(sidecar, 'headers_with_underscores_dropped')).toBe(2);
  });

  it('allow (the sidecar default): passed on as received', async () => {
    const backend = await startRecordingBackend();
    const sidecar = await gatewayWith(backend, { headers_with_underscores: 'allow' });
    const port = sidecar.port('gateway.edge');
    expect((await rawExchange(port, UNDERSCORED)).statuses).toEqual([200]);
    expect(await h2Request(port)).toBe(200);
    expect(backend.requests.map((request) => request.headers['x_forwarded_for'])).toEqual(['1.2.3.4', '1.2.3.4']);
  });
});
