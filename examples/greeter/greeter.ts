import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export interface HelloReply {
  readonly message: string;
  readonly server: string;
}

interface GreeterClient extends grpc.Client {
  SayHello(request: { name: string }, options: grpc.CallOptions, callback: grpc.requestCallback<HelloReply>): grpc.ClientUnaryCall;
}

type GreeterPackage = { helloworld: { Greeter: grpc.ServiceClientConstructor } };

/** The .proto sits in the source tree; find it from either `examples/` or `dist/examples/`. */
function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'examples', 'greeter', 'greeter.proto');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('examples/greeter/greeter.proto not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

const greeterPackage = grpc.loadPackageDefinition(loadSync(protoPath(), { keepCase: true })) as unknown as GreeterPackage;

/** A greeter server on 127.0.0.1 (port 0 = any free port) that says which instance answered. */
export async function startGreeterServer(serverName: string, port = 0): Promise<{ port: number; stop(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(greeterPackage.helloworld.Greeter.service, {
    SayHello: (call: grpc.ServerUnaryCall<{ name: string }, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) =>
      callback(null, { message: `Hello, ${call.request.name}!`, server: serverName }),
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  return {
    port: bound,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** A greeter client for `127.0.0.1:port`. */
export function greeterClient(port: number): { sayHello(name: string, timeoutMs: number): Promise<HelloReply>; close(): void } {
  const client = new greeterPackage.helloworld.Greeter(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as GreeterClient;
  return {
    sayHello: (name, timeoutMs) =>
      new Promise((resolve, reject) =>
        client.SayHello({ name }, { deadline: new Date(Date.now() + timeoutMs) }, (error, reply) => (error ? reject(error) : resolve(reply as HelloReply))),
      ),
    close: () => client.close(),
  };
}
