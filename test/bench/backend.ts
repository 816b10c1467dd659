/**
 * A benchmark backend, run as its own process so its CPU is not counted against the proxy:
 * `node dist/test/bench/backend.js h1|h2|grpc|hold-h1|hold-grpc [delayMs]`. Listens on 127.0.0.1 (a
 * free port), prints `ready port=<port>` on stdout and serves until SIGTERM/SIGINT or until its
 * parent goes away.
 *
 * - h1: every request gets 200 with a fixed body.
 * - h2: an h2c (prior knowledge) server, every stream gets 200 with the same body.
 * - grpc: a grpc-js server with `/test.Echo/Unary` on raw bytes (identity serializers) that echoes
 *   the request message back, `delayMs` (default 0) after the call arrived. It counts the calls it
 *   has received; on SIGUSR2 it prints `served <n> <calls>` (n = 1, 2, … per signal), which is how
 *   the policy comparison reads each backend's share.
 * - hold-h1, hold-grpc (the overflow scenario): a request for `/hold` is never answered; any other
 *   is refused at once, over HTTP/1.1 with 503 and a short body, over h2c with a gRPC trailers-only
 *   UNAVAILABLE (grpc-status 14) — the fastest answer a Node server gives, to set beside Tandem's
 *   overflow answer.
 */
import { createServer as createHttp1Server } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import type { AddressInfo, Server, Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { HOLD_PATH, REFUSAL_BODY, RESPONSE_BODY } from './constants.js';

const kind = process.argv[2];
const delayMs = Number(process.argv[3] ?? 0);
if (!(delayMs >= 0)) {
  process.stderr.write(`backend: delayMs must be a non-negative number, got ${process.argv[3]}\n`);
  process.exit(2);
}

function ready(port: number): void {
  process.stdout.write(`ready port=${port}\n`);
}

function listen(server: Server, onStop: () => void): void {
  server.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port));
  stopOn(onStop);
}

function stopOn(stop: () => void): void {
  const exit = (): void => {
    stop();
    process.exit(0);
  };
  process.once('SIGTERM', exit);
  process.once('SIGINT', exit);
  // The harness holds our stdin open; when it dies, so do we.
  process.stdin.on('end', exit).on('error', exit).resume();
}

function bytes(buffer: Buffer): Buffer {
  return buffer;
}

switch (kind) {
  case 'h1': {
    const server = createHttp1Server({ keepAliveTimeout: 65_000 }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': RESPONSE_BODY.length });
        res.end(RESPONSE_BODY);
      });
    });
    listen(server, () => server.closeAllConnections());
    break;
  }
  case 'h2': {
    const server = createHttp2Server({ settings: { maxConcurrentStreams: 1024 } });
    server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    server.on('session', (session) => session.on('error', () => undefined));
    server.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': RESPONSE_BODY.length });
      stream.end(RESPONSE_BODY);
    });
    listen(server, () => undefined);
    break;
  }
  case 'grpc': {
    const server = new grpc.Server();
    const unary = {
      path: '/test.Echo/Unary',
      requestStream: false,
      responseStream: false,
      requestSerialize: bytes,
      requestDeserialize: bytes,
      responseSerialize: bytes,
      responseDeserialize: bytes,
    };
    let served = 0;
    let reports = 0;
    process.on('SIGUSR2', () => process.stdout.write(`served ${++reports} ${served}\n`));
    server.addService({ unary }, {
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        served++;
        if (delayMs > 0) setTimeout(() => callback(null, call.request), delayMs);
        else callback(null, call.request);
      },
    });
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error !== null) {
        process.stderr.write(`bind failed: ${error.message}\n`);
        process.exit(1);
      }
      ready(port);
    });
    stopOn(() => server.forceShutdown());
    break;
  }
  case 'hold-h1': {
    const server = createHttp1Server({ keepAliveTimeout: 65_000 }, (req, res) => {
      req.resume();
      if (req.url === HOLD_PATH) return;
      res.writeHead(503, { 'content-type': 'text/plain', 'content-length': REFUSAL_BODY.length });
      res.end(REFUSAL_BODY);
    });
    server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    listen(server, () => server.closeAllConnections());
    break;
  }
  case 'hold-grpc': {
    const server = createHttp2Server({ settings: { maxConcurrentStreams: 1024 } });
    server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    server.on('session', (session) => session.on('error', () => undefined));
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      stream.resume();
      if (headers[':path'] === HOLD_PATH) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'refused' }, { endStream: true });
    });
    listen(server, () => undefined);
    break;
  }
  default:
    process.stderr.write(`usage: backend.js h1|h2|grpc|hold-h1|hold-grpc [delayMs] (got ${String(kind)})\n`);
    process.exit(2);
}
