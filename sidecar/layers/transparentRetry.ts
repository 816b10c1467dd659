import { TandemError } from '../core/errors.js';
import type { Layer, ProxyRequest } from '../http/message.js';

/** Attempts in all, the first included, for requests the upstream certainly did not process. */
export const TRANSPARENT_MAX_ATTEMPTS = 3;

/** Methods a repeat of which does no harm (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Sends a request again when the failed attempt never reached the application: the connection could
 * not be made, the stream was refused, or it was above a GOAWAY's last-stream-id (RFC 9113 §8.7).
 * These retries are invisible to the client and cost nothing upstream, like gRPC's transparent retry,
 * so they are on always and apart from the configurable retry policy. A keep-alive connection that
 * proves dead on reuse is retried too, for idempotent methods only. The balancer is told which
 * endpoints were tried, so the next attempt goes elsewhere when it can.
 */
export function transparentRetry(maxAttempts = TRANSPARENT_MAX_ATTEMPTS): Layer {
  return (inner) => async (request) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await inner(request);
      } catch (error) {
        if (attempt >= maxAttempts || !safeToResend(error, request)) throw error;
      }
    }
  };
}

function safeToResend(error: unknown, request: ProxyRequest): boolean {
  if (!TandemError.is(error) || request.cancellation.cancelled || !request.body.replayable) return false;
  return error.notProcessed || (error.staleConnection && IDEMPOTENT.has(request.method));
}
