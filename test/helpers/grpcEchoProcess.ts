/**
 * A gRPC Echo backend as its own process, so a test can SIGKILL it as a crash would:
 * `node dist/test/helpers/grpcEchoProcess.js [delayMs]`. Listens on 127.0.0.1 (a free port), prints
 * `ready port=<port>` on stdout, and answers `/test.Echo/Unary` with `echo:<request>` `delayMs`
 * (default 0) after the call arrived. It exits when its stdin closes, so it never outlives the test
 * process that spawned it (`spawnGrpcEchoProcess` in `childBackends.ts`).
 */
import * as grpc from '@grpc/grpc-js';
import { EchoService } from './echoService.js';

const delayMs = Number(process.argv[2] ?? 0);
if (!(delayMs >= 0)) {
  process.stderr.write(`grpcEchoProcess: delayMs must be a non-negative number, got ${process.argv[2]}\n`);
  process.exit(2);
}

const server = new grpc.Server();
const unimplemented = (_call: unknown, callback?: grpc.sendUnaryData<Buffer>): void => callback?.({ code: grpc.status.UNIMPLEMENTED });
server.addService(EchoService, {
  unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    setTimeout(() => callback(null, Buffer.concat([Buffer.from('echo:'), call.request])), delayMs);
  },
  clientStream: unimplemented,
  serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => call.destroy(),
  bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.destroy(),
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error !== null) {
    process.stderr.write(`grpcEchoProcess: cannot bind: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`ready port=${port}\n`);
});
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0)).resume();
