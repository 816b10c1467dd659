/**
 * The backend app of the rollout tests, as its own process: `node dist/test/helpers/rolloutAppProcess.js NAME`.
 * One h2c port (prior knowledge, as Tandem's inbound speaks to a `protocol: http2` app) serving
 *
 *   GET  /hello                   200 `NAME /hello`, plain HTTP
 *   POST /test.Echo/Unary         gRPC: `echo:<request>`
 *   POST /test.Echo/ServerStream  gRPC: a request `COUNTxMS` streams COUNT messages `NAME i`, MS apart
 *
 * gRPC is framed by hand (5-byte prefix, `grpc-status` trailers): this app only has to answer what a
 * grpc-js client sends through Tandem, and plain HTTP must share the port, which a grpc-js server
 * does not allow. Prints `ready port=<port>`; exits when its stdin closes, or on SIGTERM.
 */
import { createServer, type ServerHttp2Stream } from 'node:http2';

const name = process.argv[2] ?? 'app';

function grpcFrame(message: string): Buffer {
  const payload = Buffer.from(message);
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

function readRequest(stream: ServerHttp2Stream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).subarray(5).toString()));
  });
}

function grpcReply(stream: ServerHttp2Stream, messages: readonly string[], intervalMs: number): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  let sent = 0;
  const next = (): void => {
    if (stream.destroyed) return;
    if (sent === messages.length) {
      stream.end();
      return;
    }
    stream.write(grpcFrame(messages[sent++] as string));
    if (intervalMs > 0) setTimeout(next, intervalMs);
    else next();
  };
  next();
}

const server = createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => undefined);
  const path = headers[':path'];
  if (path === '/test.Echo/Unary') {
    void readRequest(stream).then((request) => grpcReply(stream, [`echo:${request}`], 0));
  } else if (path === '/test.Echo/ServerStream') {
    void readRequest(stream).then((request) => {
      const [count = 1, ms = 0] = request.split('x').map(Number);
      grpcReply(stream, Array.from({ length: count }, (_, i) => `${name} ${i}`), ms);
    });
  } else {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(`${name} ${path}`);
  }
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`ready port=${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0)).resume();
process.on('SIGTERM', () => process.exit(0));
