import { parseGrpcTimeoutMs } from '../http/grpc.js';
import type { Layer } from '../http/message.js';

/**
 * Turns the client's `grpc-timeout` into an absolute deadline, measured from when the request arrived.
 * Pools send the time remaining at dispatch as the upstream's `grpc-timeout`, so the hop through
 * Tandem (and any retry) is charged to the deadline instead of silently extending it.
 */
export function deadline(): Layer {
  return (inner) => (request) => {
    if (request.grpc) {
      const timeoutMs = parseGrpcTimeoutMs(request.headers['grpc-timeout']);
      if (timeoutMs !== undefined) request.deadline = Math.min(request.deadline, request.receivedAt + timeoutMs);
    }
    return inner(request);
  };
}
