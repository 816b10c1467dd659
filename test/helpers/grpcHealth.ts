import * as grpc from '@grpc/grpc-js';
import { onCleanup } from './cleanup.js';

/** `HealthCheckResponse.ServingStatus` values (grpc/grpc-proto health.proto). */
export const SERVING = 1;
export const NOT_SERVING = 2;

/**
 * `grpc.health.v1.Health/Check` on raw values: the request as `{ service }`, the response as a
 * ServingStatus number. Both messages are one small field, so they are encoded by hand.
 */
const HealthService = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (request: { service: string }) => Buffer.from(request.service),
    // HealthCheckRequest { string service = 1; }: tag, one-byte length, text (short names only).
    // An object, as a generated stub gives: grpc-js takes a falsy request ('') for a missing one.
    requestDeserialize: (bytes: Buffer) => ({ service: bytes.length === 0 ? '' : bytes.subarray(2).toString('utf8') }),
    responseSerialize: (status: number) => Buffer.from([0x08, status]),
    responseDeserialize: (bytes: Buffer) => bytes[1] as number,
  },
} as const satisfies grpc.ServiceDefinition;

/**
 * Adds grpc.health.v1 to a running grpc-js server (such as `startGrpcBackend`'s), answering
 * `status(service)` at each check, so a test can flip it between SERVING and NOT_SERVING.
 */
export function addGrpcHealthService(server: grpc.Server, status: (service: string) => number): void {
  server.addService(HealthService, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, number>, callback: grpc.sendUnaryData<number>) => callback(null, status(call.request.service)),
  });
}

/** A grpc-js server serving only grpc.health.v1, answering `status(service)`; shut down after the test. */
export async function startGrpcHealthServer(status: (service: string) => number): Promise<number> {
  const server = new grpc.Server();
  addGrpcHealthService(server, status);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
  );
  onCleanup(() => server.forceShutdown());
  return port;
}
