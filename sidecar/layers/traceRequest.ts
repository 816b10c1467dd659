import type { Layer } from '../http/message.js';
import { answeredStatus, replyStatus } from '../listener/respond.js';
import type { Direction } from '../observe/requestMetrics.js';
import type { Tracing } from '../observe/tracing/tracing.js';

/**
 * Tracing, in the edge stage: a SERVER span per request the listener accepted, child of the trace
 * context the request carries, ended with what the client got. Attempts get their CLIENT spans in
 * `dispatch` (balance layer), through `context.trace`.
 */
export function traceRequest(tracing: Tracing, direction: Direction, listener: string): Layer {
  return (inner) => (request, context) => {
    const trace = tracing.startRequest(request, direction, listener);
    context.trace = trace;
    return inner(request, context).then(
      (response) => {
        response.body.onFinish((result) => {
          const unforwardable = context.unforwardable;
          const answered = answeredStatus(request.grpc, response, result, unforwardable);
          trace.end({ ...answered, error: unforwardable ?? result.error });
        });
        return response;
      },
      (error: unknown) => {
        const reply = replyStatus(error, request.grpc);
        trace.end({ status: reply.status, grpcStatus: reply.grpcStatus, error: error as Error });
        throw error;
      },
    );
  };
}
