import { createServer, type AddressInfo } from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { echoClient, startGrpcBackend, type EchoClient, type EchoHandlers, type GrpcBackend } from './backends.js';
import { startSidecarFor, type TestSidecar } from './sidecar.js';

/** A grpc-js EchoService behind an in-process Tandem, and a grpc-js client that reaches it through Tandem. */
export interface GrpcThroughTandem {
  readonly backend: GrpcBackend;
  readonly mesh: TestSidecar;
  readonly client: EchoClient;
}

export async function grpcThroughTandem(
  handlers: EchoHandlers,
  options: { server?: grpc.ServerOptions; client?: grpc.ChannelOptions } = {},
): Promise<GrpcThroughTandem> {
  const backend = await startGrpcBackend(handlers, options.server);
  const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
  return { backend, mesh, client: echoClient(mesh.port('outbound.echo'), options.client) };
}

/** Request head of a gRPC call made by hand on a raw HTTP/2 session. */
export function grpcRequestHead(method: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return { ':method': 'POST', ':path': `/test.Echo/${method}`, 'content-type': 'application/grpc', te: 'trailers', ...extra };
}

/** One length-prefixed gRPC message (uncompressed), as it travels in DATA frames. */
export function grpcFrame(message: Buffer | string): Buffer {
  const payload = Buffer.from(message);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** How a streaming call ended, seen from the grpc-js client. */
export interface StreamOutcome {
  readonly messages: Buffer[];
  readonly status: grpc.StatusObject;
  /** The call's 'error' event, present for every non-OK status. */
  readonly error: grpc.ServiceError | undefined;
}

/** Collects a client call's responses until its final status. */
export function finished(call: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    const messages: Buffer[] = [];
    let error: grpc.ServiceError | undefined;
    call.on('data', (message: Buffer) => messages.push(message));
    call.on('error', (e: grpc.ServiceError) => (error = e));
    call.on('status', (status: grpc.StatusObject) => {
      // 'status' can overtake messages the readable side still buffers (they flow on a later tick).
      setImmediate(() => resolve({ messages, status, error }));
    });
  });
}

/** The binary (`-bin`) values of a metadata key, as Buffers. */
export function binaryValues(metadata: grpc.Metadata | undefined, key: string): Buffer[] {
  return (metadata?.get(key) ?? []).map((value) => Buffer.from(value));
}

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/** Reads a `grpc-timeout` value (PROTOCOL-HTTP2.md: 1–8 digits and a unit), or undefined if malformed. */
export function grpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  const match = typeof value === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  return match === null ? undefined : Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

/** A loopback port nothing listens on: bound, then closed again. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
