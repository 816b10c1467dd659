import type * as GrpcJs from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { z } from 'zod';
import { withDeadline, type HealthCheckKind, type HealthVerdict } from './healthCheck.js';

const GrpcCheckConfig = z.strictObject({
  /** The service name asked about; "" asks about the server as a whole. */
  service_name: z.string().default(''),
});
type GrpcCheckConfig = z.infer<typeof GrpcCheckConfig>;

const CHECK_METHOD = '/grpc.health.v1.Health/Check';
/** `HealthCheckResponse.ServingStatus` (grpc/grpc-proto health.proto). */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/**
 * `grpc.health.v1.Health/Check`, healthy when the answer is SERVING. The two messages are one field
 * each, so they are encoded by hand rather than through a .proto loader.
 */
let grpcJs: Promise<typeof GrpcJs> | undefined;

/** grpc-js is loaded on the first gRPC check: a sidecar that runs none does not carry it (~17 MiB). */
function loadGrpcJs(): Promise<typeof GrpcJs> {
  return (grpcJs ??= import('@grpc/grpc-js'));
}

export const grpcCheck: HealthCheckKind<GrpcCheckConfig> = {
  kind: 'grpc',
  configSchema: GrpcCheckConfig,
  create: (config) => ({
    check: (target, timeoutMs) =>
      withDeadline(timeoutMs, async () => {
        const { Client, credentials, status: GrpcStatus } = await loadGrpcJs();
        const host = target.address.includes(':') ? `[${target.address}]` : target.address;
        const client = new Client(`${host}:${target.port}`, credentials.createInsecure());
        return new Promise<HealthVerdict>((resolve, reject) => {
          client.makeUnaryRequest(CHECK_METHOD, encodeRequest, decodeStatus, config.service_name, { deadline: Date.now() + timeoutMs }, (error: ServiceError | null, status?: number) => {
            client.close();
            if (error !== null) reject(new Error(`health check: ${GrpcStatus[error.code]} ${error.details}`));
            else {
              const name = SERVING_STATUS[status ?? 0] ?? `status ${status}`;
              resolve({ healthy: name === 'SERVING', detail: `grpc.health.v1 ${name}` });
            }
          });
        });
      }),
  }),
};

/** HealthCheckRequest { string service = 1; } */
function encodeRequest(service: string): Buffer {
  const text = Buffer.from(service, 'utf8');
  if (text.length === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([0x0a]), varint(text.length), text]);
}

/** HealthCheckResponse { ServingStatus status = 1; }: the status, 0 (UNKNOWN) when absent. */
function decodeStatus(message: Buffer): number {
  let offset = 0;
  while (offset < message.length) {
    const tag = message[offset++] as number;
    if (tag === 0x08) return readVarint(message, offset).value;
    // Skip any other field: varints (wire type 0) and length-delimited (2) are all a peer may add.
    if ((tag & 7) === 0) offset = readVarint(message, offset).next;
    else if ((tag & 7) === 2) {
      const length = readVarint(message, offset);
      offset = length.next + length.value;
    } else throw new Error(`unexpected wire type ${tag & 7} in HealthCheckResponse`);
  }
  return 0;
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

function readVarint(buffer: Buffer, offset: number): { value: number; next: number } {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    const byte = buffer[offset++];
    if (byte === undefined) throw new Error('truncated varint in HealthCheckResponse');
    value |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value: value >>> 0, next: offset };
  }
  throw new Error('varint too long in HealthCheckResponse');
}
