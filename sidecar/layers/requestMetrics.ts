import type { Layer, ProxyResponse } from '../http/message.js';
import { answeredStatus, replyStatus } from '../listener/respond.js';
import type { ListenerRequestMetrics } from '../observe/requestMetrics.js';

/**
 * Request metrics, the first concern of the edge stage: it sits above the router, so it sees every
 * request the listener accepted — route misses, requests to an upstream without endpoints and every
 * other local failure included — and records each once, when the client has its whole answer: the
 * status class it got (the mapped status for local failures, and for a response head the downstream
 * could not carry, the local reply that replaced it), the gRPC status from the trailers (or a
 * trailers-only head, or the status a failure mid-body was reported with), and the time from the
 * request head to the end of the response.
 */
export function requestMetrics(metrics: ListenerRequestMetrics): Layer {
  return (inner) => (request, context) => {
    const answer = inner(request, context);
    // The router names the upstream synchronously as the request enters it, so it is known here.
    const route = metrics.route(context.upstream);
    route.started();
    return answer.then(
      (response: ProxyResponse) => {
        response.body.onFinish((result) => {
          const unforwardable = context.unforwardable;
          const answered = answeredStatus(request.grpc, response, result, unforwardable);
          const sent = unforwardable === undefined ? context.responseBytes : 0;
          route.finished(answered.status, answered.grpcStatus, request.receivedAt, { request: request.body.bytesReceived, response: sent }, context.trace?.exemplar);
        });
        return response;
      },
      (error: unknown) => {
        const reply = replyStatus(error, request.grpc);
        route.finished(reply.status, reply.grpcStatus, request.receivedAt, { request: request.body.bytesReceived, response: 0 }, context.trace?.exemplar);
        throw error;
      },
    );
  };
}
