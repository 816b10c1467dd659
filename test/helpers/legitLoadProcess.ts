/**
 * A legitimate client in a process of its own (`node dist/test/helpers/legitLoadProcess.js PROTOCOL
 * PORT RATE [MAX_SOCKETS]`), so that an attack driven from the test process cannot stall it: what it measures is
 * Tandem's latency, not the test's. It sends GET / at RATE per second, open loop (each request starts
 * on schedule whether or not earlier ones have finished), over one keep-alive HTTP/1.1 agent or one
 * h2c session, until its stdin closes. Each request's outcome is a line on stdout:
 * `START_MS LATENCY_MS ok|<error>`, START_MS on the wall clock with sub-millisecond precision (the
 * test compares it with its own window boundaries). It warms up first and says `ready ok` (or
 * `ready <error>`) when the measured load begins.
 */
import { Agent, request as http1Request } from 'node:http';
import { connect, type ClientHttp2Session } from 'node:http2';

const [protocol, portText, rateText, socketsText] = process.argv.slice(2);
const port = Number(portText);
const rate = Number(rateText);
if ((protocol !== 'http1' && protocol !== 'http2') || !(port > 0) || !(rate > 0)) {
  process.stderr.write('usage: legitLoadProcess.js http1|http2 PORT RATE\n');
  process.exit(2);
}

const now = (): number => performance.timeOrigin + performance.now();
/** HTTP/1.1 connections at most (64 unless given): a test at a connection cap keeps the client to those it has. */
const agent = new Agent({ keepAlive: true, maxSockets: socketsText === undefined ? 64 : Number(socketsText) });
let session: ClientHttp2Session | undefined;

function h2(): ClientHttp2Session {
  if (session === undefined || session.closed || session.destroyed) {
    session = connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
  }
  return session;
}

function send(): Promise<string> {
  return new Promise((resolve) => {
    if (protocol === 'http2') {
      const stream = h2().request({ ':path': '/legit' });
      let status = 0;
      stream.on('response', (head) => (status = Number(head[':status'])));
      stream.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      stream.on('end', () => resolve(status === 200 ? 'ok' : `status-${status}`));
      stream.resume();
      return;
    }
    const req = http1Request({ host: '127.0.0.1', port, path: '/legit', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `status-${res.statusCode ?? 0}`));
      res.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

let running = true;
let inFlight = 0;
const lines: string[] = [];
const flush = (): void => {
  if (lines.length > 0) process.stdout.write(lines.splice(0).join(''));
};
const flusher = setInterval(flush, 100);

/**
 * Before the measured load: requests back to back, a few at a time, until V8 has optimised the code
 * both here and in Tandem (measured: without it, the 500th request or so stalls ~80 ms in this process
 * as it tiers up, whichever server it talks to).
 */
const WARM_UP_REQUESTS = 3_000;
const WARM_UP_CONCURRENCY = 8;

async function warmUp(): Promise<string> {
  let next = 0;
  let failure = 'ok';
  const worker = async (): Promise<void> => {
    while (next++ < WARM_UP_REQUESTS) {
      const outcome = await send();
      if (outcome !== 'ok') failure = outcome;
    }
  };
  await Promise.all(Array.from({ length: WARM_UP_CONCURRENCY }, worker));
  return failure;
}

const intervalMs = 1_000 / rate;
let start = 0;
let sent = 0;
const tick = (): void => {
  if (!running) return;
  const due = Math.floor((performance.now() - start) / intervalMs) + 1;
  while (sent < due) {
    sent++;
    const begun = now();
    inFlight++;
    void send().then((outcome) => {
      inFlight--;
      lines.push(`${begun.toFixed(3)} ${(now() - begun).toFixed(3)} ${outcome}\n`);
      if (!running && inFlight === 0) finish();
    });
  }
  setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
};

function finish(): void {
  clearInterval(flusher);
  flush();
  agent.destroy();
  session?.destroy();
  process.stdout.write('done\n', () => process.exit(0));
}

process.stdin.on('end', () => {
  running = false;
  if (inFlight === 0) finish();
});
process.stdin.resume();
// Ready once warmed up (or on the first failure, which the test reports): the load then starts.
void warmUp().then((outcome) => {
  process.stdout.write(`ready ${outcome}\n`);
  start = performance.now();
  tick();
});
