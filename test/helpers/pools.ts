import { spawn } from 'node:child_process';
import type { ServerHttp2Session, ServerHttp2Stream, Settings } from 'node:http2';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { callUnary, echoClient, startHttp2Backend, type Http2Backend } from './backends.js';
import { onCleanup } from './cleanup.js';
import { h2Request, h2Session } from './clients.js';
import type { TestSidecar } from './sidecar.js';
import { waitFor } from './wait.js';

/** One endpoint's counters as `/clusters` shows them. */
export interface EndpointStats {
  readonly connections: number;
  readonly active_requests: number;
  readonly total_requests: number;
  readonly total_failures: number;
}

/** The `/clusters` view of the only endpoint of `upstream`, read in-process. */
export async function endpointStats(mesh: TestSidecar, upstream: string): Promise<EndpointStats> {
  const clusters = (await mesh.sidecar.clusters()) as Array<{ name: string; endpoints: EndpointStats[] }>;
  const endpoint = clusters.find((cluster) => cluster.name === upstream)?.endpoints[0];
  if (endpoint === undefined) throw new Error(`upstream ${upstream} has no endpoint`);
  return endpoint;
}

/** gRPC length-prefixed message framing (uncompressed). */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** The answers `sendConcurrent` expects from an echoing backend. */
export function echoes(count: number, prefix = '/r'): string[] {
  return Array.from({ length: count }, (_, index) => `echo:${prefix}${index}`);
}

/** Answers a stream with `echo:<name>`: a plain 200, or a gRPC reply when the request was gRPC. */
export function answerEcho(stream: ServerHttp2Stream, name: string, grpc: boolean): void {
  if (stream.destroyed) return;
  const reply = Buffer.from(`echo:${name}`);
  if (!grpc) {
    stream.respond({ ':status': 200 });
    stream.end(reply);
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(grpcFrame(reply));
}

export interface HeldHttp2Backend extends Http2Backend {
  /** Requests that have fully arrived. */
  readonly arrived: () => number;
  /** How many of the counted requests each session carried, most first. */
  readonly requestsPerSession: () => number[];
  /** Requests arrived and not yet answered; the most there ever were at once. */
  readonly inFlight: () => number;
  readonly maxInFlight: () => number;
  /** Answers every held request, and every later one as soon as it arrives. */
  readonly release: () => void;
}

/**
 * An h2c backend that holds every request until released, then echoes its name (the `:path` of a
 * plain request, the message of a gRPC call). `releaseAt` releases on its own once that many
 * requests have arrived. Requests named `/warm…` are answered at once and not counted.
 */
export async function startHeldHttp2Backend(options: { settings?: Settings; releaseAt?: number } = {}): Promise<HeldHttp2Backend> {
  const held: Array<() => void> = [];
  const sessions = new Map<string, ServerHttp2Session>();
  let released = false;
  let arrived = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const release = (): void => {
    released = true;
    for (const answer of held.splice(0)) answer();
  };
  const backend = await startHttp2Backend((stream, headers) => {
    const grpc = String(headers['content-type']).startsWith('application/grpc');
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const name = grpc ? Buffer.concat(chunks).subarray(5).toString() : String(headers[':path']);
      if (name.startsWith('/warm')) {
        answerEcho(stream, name, grpc);
        return;
      }
      sessions.set(name, stream.session as ServerHttp2Session);
      arrived++;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      const answer = (): void => {
        inFlight--;
        answerEcho(stream, name, grpc);
      };
      if (released) answer();
      else held.push(answer);
      if (options.releaseAt !== undefined && arrived >= options.releaseAt) release();
    });
  }, options.settings);
  return {
    ...backend,
    arrived: () => arrived,
    requestsPerSession: () => {
      const counts = new Map<ServerHttp2Session, number>();
      for (const session of sessions.values()) counts.set(session, (counts.get(session) ?? 0) + 1);
      return [...counts.values()].sort((a, b) => b - a);
    },
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    release,
  };
}

/**
 * Resolves once every open session of `backend` has answered a PING: TCP keeps order, so every
 * frame the client wrote before it saw the PING has been read, and its stream events emitted, by then.
 */
export async function flushSessions(backend: Http2Backend): Promise<void> {
  const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  await nextTurn();
  await Promise.all([...backend.openSessions()].map((session) => new Promise<void>((resolve) => session.ping(() => resolve()))));
  await nextTurn();
}

/**
 * Sends `count` concurrent requests named `<prefix>0`, `<prefix>1`, … to `port`: over one h2c
 * session, or as gRPC unary calls on one grpc-js channel. Resolves with `echo:<name>` per request,
 * or what failed.
 */
export async function sendConcurrent(protocol: 'http2' | 'grpc', port: number, count: number, prefix = '/r'): Promise<string[]> {
  const names = Array.from({ length: count }, (_, index) => `${prefix}${index}`);
  if (protocol === 'http2') {
    const session = h2Session(port);
    return Promise.all(
      names.map(async (name) => {
        const response = await h2Request(session, { ':path': name });
        return response.status === 200 ? response.body.toString() : `failed ${response.status} ${String(response.headers['x-tandem-error'])}`;
      }),
    );
  }
  const client = echoClient(port);
  return Promise.all(
    names.map(async (name) => {
      const { error, reply } = await callUnary(client, Buffer.from(name));
      return error === null ? String(reply) : `failed ${error.code} ${error.details}`;
    }),
  );
}

/**
 * A TCP port on 127.0.0.1 where connects hang: a child process listens with a backlog of 1, stops
 * itself (SIGSTOP) before it accepts anything, and the accept queue is filled with idle connections
 * (Linux queues backlog + 1), after which the kernel drops further SYNs. Killed after the test.
 */
export async function startUnresponsiveListener(): Promise<{ port: number; endpoint: string }> {
  const script = `const server = require('node:net').createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n');
  process.kill(process.pid, 'SIGSTOP');
});`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  onCleanup(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once('exit', (code) => reject(new Error(`listener process exited (${code})`)));
  });
  let connected = 0;
  for (let i = 0; i < 3; i++) {
    const filler = connect(port, '127.0.0.1');
    filler.on('error', () => undefined);
    filler.once('connect', () => connected++);
    onCleanup(() => filler.destroy());
  }
  await waitFor('the accept queue of the stopped listener to fill', () => connected >= 2);
  return { port, endpoint: `127.0.0.1:${port}` };
}

export interface StaleKeepAliveBackend {
  readonly port: number;
  readonly endpoint: string;
  readonly connectionsAccepted: () => number;
  /** Every request head read, as `<connection#> <method> <path>`. */
  readonly requests: string[];
}

/**
 * A raw HTTP/1.1 server whose keep-alive connections serve exactly one request: it answers the
 * first request on a connection (keep-alive, `served <method> <path>`), and when a second request
 * arrives on the same connection it closes it without a response, as a server whose idle timeout
 * fired just as the client reused the connection.
 */
export async function startStaleKeepAliveBackend(): Promise<StaleKeepAliveBackend> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    const connection = ++accepted;
    let served = 0;
    let buffered = Buffer.alloc(0);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const headEnd = buffered.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffered.subarray(0, headEnd).toString('latin1');
        const bodyStart = headEnd + 4;
        let bodyEnd = bodyStart + Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
          const last = buffered.indexOf('0\r\n\r\n', bodyStart);
          if (last < 0) return;
          bodyEnd = last + 5;
        }
        if (buffered.length < bodyEnd) return;
        buffered = buffered.subarray(bodyEnd);
        const [method, path] = head.split(' ');
        requests.push(`${connection} ${method} ${path}`);
        if (served++ > 0) {
          socket.destroy();
          return;
        }
        const body = `served ${method} ${path}`;
        socket.write(`HTTP/1.1 200 OK\r\nconnection: keep-alive\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  onCleanup(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port, endpoint: `127.0.0.1:${port}`, connectionsAccepted: () => accepted, requests };
}
