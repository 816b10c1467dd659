import type * as grpc from '@grpc/grpc-js';

/**
 * A gRPC service on raw bytes (identity serializers), so tests see exactly what crossed the wire:
 * `/test.Echo/Unary`, `ClientStream`, `ServerStream` and `Bidi`. Kept free of vitest imports so a
 * backend child process (`grpcEchoProcess.ts`) can serve it too.
 */
const bytes = (buffer: Buffer): Buffer => buffer;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: bytes,
  requestDeserialize: bytes,
  responseSerialize: bytes,
  responseDeserialize: bytes,
});

export const EchoService = {
  unary: method('Unary', false, false),
  clientStream: method('ClientStream', true, false),
  serverStream: method('ServerStream', false, true),
  bidi: method('Bidi', true, true),
} as const satisfies grpc.ServiceDefinition;
