/**
 * The overflow scenario's client, in its own process:
 * `node dist/test/bench/overflowWorker.js h1|grpc <port> <holds> <warmup> <probes> tandem|direct`.
 * Prints one line, `result <OverflowResult as JSON>`, and exits.
 *
 * First it sends `holds` requests for `/hold` (the backend never answers them), each on its own
 * connection (HTTP/1.1) or as streams of one h2c session (gRPC), so a Tandem with
 * `max_requests: <holds>` has every slot taken. Then, on one more keep-alive connection, it sends
 * requests one at a time, each written only after the previous reply has fully arrived (nothing
 * queued ahead of it), and times each from its write to the end of its reply. An answer counts when
 * it is the refusal expected of the target: from Tandem 503 (HTTP/1.1) or grpc-status 14 (gRPC) with
 * `x-tandem-error: TANDEM_OVERFLOW`; direct, the backend's own 503 / grpc-status 14. Probes are sent
 * until the first such answer (the holds may still be on their way), then `warmup` unmeasured, then
 * `probes` measured.
 */
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { GRPC_MESSAGE, GRPC_PATH, HOLD_PATH, grpcFrame } from './constants.js';
import { openSession } from './grpcCall.js';
import { percentile } from './stats.js';

/** What one run measured; latencies of the measured probes that got the expected answer. */
export interface OverflowResult {
  readonly probes: number;
  readonly failed: number;
  /** Unexpected answers by what they were. */
  readonly failures: Record<string, number>;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

const [protocolArg, portArg, holdsArg, warmupArg, probesArg, targetArg] = process.argv.slice(2);
const port = Number(portArg);
const holds = Number(holdsArg);
const warmup = Number(warmupArg);
const probes = Number(probesArg);
if ((protocolArg !== 'h1' && protocolArg !== 'grpc') || !(port > 0) || !(holds >= 0) || !(warmup >= 0) || !(probes > 0) || (targetArg !== 'tandem' && targetArg !== 'direct')) {
  process.stderr.write('usage: overflowWorker.js h1|grpc <port> <holds> <warmup> <probes> tandem|direct\n');
  process.exit(2);
}
const viaTandem = targetArg === 'tandem';
/** How long the first expected answer may take to come (the holds reaching their slots). */
const READY_TIMEOUT_MS = 5_000;
const REPLY_TIMEOUT_MS = 5_000;

/** One answer: what it was (`ok` when it is the expected refusal) and how long it took. */
interface Answer {
  readonly what: string;
  readonly ms: number;
}

type Probe = () => Promise<Answer>;

function expected(status: string, tandemError: string | undefined): string {
  if (viaTandem) return tandemError === 'TANDEM_OVERFLOW' ? 'ok' : `${status} ${tandemError ?? 'without x-tandem-error'}`;
  return tandemError === undefined ? 'ok' : `${status} ${tandemError}`;
}

function openSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** HTTP/1.1: `holds` sockets each with a held GET, and a probe on a further keep-alive socket. */
async function http1(): Promise<Probe> {
  for (let i = 0; i < holds; i++) (await openSocket()).write(`GET ${HOLD_PATH} HTTP/1.1\r\nHost: echo\r\n\r\n`);
  const socket = await openSocket();
  socket.setEncoding('latin1');
  let buffered = '';
  let onReply: ((reply: { status: string; tandemError: string | undefined }) => void) | undefined;
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    const headEnd = buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = buffered.slice(0, headEnd);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (buffered.length < headEnd + 4 + length) return;
    buffered = buffered.slice(headEnd + 4 + length);
    onReply?.({ status: head.slice(9, 12), tandemError: /\r\nx-tandem-error:\s*(\S+)/i.exec(head)?.[1] });
  });
  socket.on('close', () => onReply?.({ status: 'closed', tandemError: undefined }));
  return () =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ what: 'timeout', ms: REPLY_TIMEOUT_MS }), REPLY_TIMEOUT_MS);
      onReply = ({ status, tandemError }) => {
        clearTimeout(timer);
        onReply = undefined;
        resolve({ what: status === '503' ? expected(status, tandemError) : `${status} ${tandemError ?? ''}`.trim(), ms: performance.now() - sentAt });
      };
      const sentAt = performance.now();
      socket.write(`GET /probe HTTP/1.1\r\nHost: echo\r\n\r\n`);
    });
}

const grpcHeaders = (path: string) => ({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
const body = grpcFrame(GRPC_MESSAGE);

/** gRPC: `holds` held calls on one h2c session, and probes (unary calls) on another. */
async function grpcCalls(): Promise<Probe> {
  const held = await openSession(port);
  held.on('error', () => undefined);
  for (let i = 0; i < holds; i++) held.request(grpcHeaders(HOLD_PATH)).on('error', () => undefined).end(body);
  const session: ClientHttp2Session = await openSession(port);
  session.on('error', () => undefined);
  return () =>
    new Promise((resolve) => {
      const sentAt = performance.now();
      const stream = session.request(grpcHeaders(GRPC_PATH));
      let what = 'reset';
      stream.on('response', (head: IncomingHttpHeaders) => {
        const grpcStatus = String(head['grpc-status'] ?? 'none');
        what = grpcStatus === '14' ? expected(grpcStatus, head['x-tandem-error'] as string | undefined) : `grpc-status ${grpcStatus}`;
      });
      stream.on('data', () => undefined);
      stream.on('error', () => undefined);
      stream.setTimeout(REPLY_TIMEOUT_MS, () => {
        what = 'timeout';
        stream.close();
      });
      stream.on('close', () => resolve({ what, ms: performance.now() - sentAt }));
      stream.end(body);
    });
}

async function main(): Promise<void> {
  const probe = protocolArg === 'h1' ? await http1() : await grpcCalls();
  const readyBy = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    const answer = await probe();
    if (answer.what === 'ok') break;
    if (performance.now() > readyBy) throw new Error(`no expected answer within ${READY_TIMEOUT_MS} ms; the last was: ${answer.what}`);
  }
  for (let i = 0; i < warmup; i++) await probe();
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  for (let i = 0; i < probes; i++) {
    const answer = await probe();
    if (answer.what === 'ok') latencies.push(answer.ms);
    else failures[answer.what] = (failures[answer.what] ?? 0) + 1;
  }
  const sorted = Float64Array.from(latencies).sort();
  const result: OverflowResult = {
    probes,
    failed: probes - latencies.length,
    failures,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: percentile(sorted, 100),
    meanMs: latencies.reduce((sum, ms) => sum + ms, 0) / Math.max(1, latencies.length),
  };
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`overflow worker failed: ${(error as Error).message}\n`);
  process.exit(1);
});
