import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
  type Settings,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { onCleanup } from './cleanup.js';
import { EchoService } from './echoService.js';

/** A real HTTP/1.1 server on 127.0.0.1, closed after the test. */
export interface Http1Backend {
  readonly server: Http1Server;
  readonly port: number;
  /** `127.0.0.1:port`, as the endpoints file lists it. */
  readonly endpoint: string;
  /** Sockets accepted so far. */
  readonly connectionsAccepted: () => number;
  readonly openConnections: () => number;
}

export async function startHttp1Backend(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Http1Backend> {
  const server = createHttp1Server(handler);
  const sockets = new Set<Socket>();
  let accepted = 0;
  server.on('connection', (socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  onCleanup(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { server, port, endpoint: `127.0.0.1:${port}`, connectionsAccepted: () => accepted, openConnections: () => sockets.size };
}

/** A real h2c server on 127.0.0.1, closed after the test. */
export interface Http2Backend {
  readonly server: Http2Server;
  readonly port: number;
  readonly endpoint: string;
  /** Sessions (connections) accepted so far, and those still open. */
  readonly sessionsAccepted: () => number;
  readonly openSessions: () => ReadonlySet<ServerHttp2Session>;
}

export async function startHttp2Backend(
  onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => void,
  settings: Settings = {},
): Promise<Http2Backend> {
  const server = createHttp2Server({ settings });
  const sessions = new Set<ServerHttp2Session>();
  let accepted = 0;
  server.on('session', (session) => {
    accepted++;
    sessions.add(session);
    session.on('error', () => undefined);
    session.once('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers, flags) => {
    stream.on('error', () => undefined);
    onStream(stream, headers, flags);
  });
  const port = await listen(server);
  onCleanup(() => {
    for (const session of sessions) session.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { server, port, endpoint: `127.0.0.1:${port}`, sessionsAccepted: () => accepted, openSessions: () => sessions };
}

function listen(server: Http1Server | Http2Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export { EchoService };

export type EchoHandlers = Partial<{
  unary: grpc.handleUnaryCall<Buffer, Buffer>;
  clientStream: grpc.handleClientStreamingCall<Buffer, Buffer>;
  serverStream: grpc.handleServerStreamingCall<Buffer, Buffer>;
  bidi: grpc.handleBidiStreamingCall<Buffer, Buffer>;
}>;

export interface GrpcBackend {
  readonly server: grpc.Server;
  readonly port: number;
  readonly endpoint: string;
}

export async function startGrpcBackend(handlers: EchoHandlers, options: grpc.ServerOptions = {}): Promise<GrpcBackend> {
  const server = new grpc.Server(options);
  const unimplemented = (_call: unknown, callback?: grpc.sendUnaryData<Buffer>): void =>
    callback?.({ code: grpc.status.UNIMPLEMENTED, details: 'not in this test' });
  server.addService(EchoService, {
    unary: handlers.unary ?? unimplemented,
    clientStream: handlers.clientStream ?? unimplemented,
    serverStream: handlers.serverStream ?? ((call: grpc.ServerWritableStream<Buffer, Buffer>) => call.destroy()),
    bidi: handlers.bidi ?? ((call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.destroy()),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  onCleanup(() => server.forceShutdown());
  return { server, port, endpoint: `127.0.0.1:${port}` };
}

const EchoClient = grpc.makeGenericClientConstructor(EchoService, 'Echo');

export interface EchoClient {
  unary(request: Buffer, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<Buffer>): grpc.ClientUnaryCall;
  clientStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<Buffer>): grpc.ClientWritableStream<Buffer>;
  serverStream(request: Buffer, metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<Buffer>;
  bidi(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<Buffer, Buffer>;
  close(): void;
}

/** A grpc-js client for EchoService at `host:port` (127.0.0.1 unless given), closed after the test. */
export function echoClient(port: number, options: grpc.ChannelOptions = {}, host = '127.0.0.1'): EchoClient {
  const client = new EchoClient(`${host}:${port}`, grpc.credentials.createInsecure(), options) as unknown as EchoClient;
  onCleanup(() => client.close());
  return client;
}

/** Promisified unary call that resolves with the reply or the ServiceError, plus received metadata. */
export function callUnary(
  client: EchoClient,
  request: Buffer,
  options: { metadata?: grpc.Metadata; deadline?: Date } = {},
): Promise<{ error: grpc.ServiceError | null; reply: Buffer | undefined; trailers: grpc.Metadata | undefined; headers: grpc.Metadata | undefined }> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let trailers: grpc.Metadata | undefined;
    let outcome: { error: grpc.ServiceError | null; reply: Buffer | undefined } | undefined;
    let statusSeen = false;
    const finish = (): void => {
      if (outcome !== undefined && statusSeen) resolve({ ...outcome, trailers, headers });
    };
    const call = client.unary(request, options.metadata ?? new grpc.Metadata(), options.deadline ? { deadline: options.deadline } : {}, (error, reply) => {
      outcome = { error, reply };
      finish();
    });
    call.on('metadata', (metadata) => (headers = metadata));
    call.on('status', (status) => {
      trailers = status.metadata;
      statusSeen = true;
      finish();
    });
  });
}
