import type { TandemError } from '../core/errors.js';
import { IDEMPOTENT_METHODS } from './retryPolicy.js';

/**
 * Free resends per request: attempts the upstream certainly did not process, sent again without
 * touching `num_retries` or the budget.
 */
export const FREE_RESENDS = 2;

/**
 * Whether a failed attempt may be sent again for free, like gRPC's transparent retry: the connection
 * could not be made, the stream was refused, or it was above a GOAWAY's last-stream-id (RFC 9113
 * §8.7) — the application never saw it, so resending costs the upstream nothing and is safe for any
 * method. A keep-alive connection that proves dead on reuse before any response byte qualifies too,
 * for idempotent methods only (the request may have reached a peer that was closing it). This is on
 * whatever the retry policy says, so deploys that rotate connections lose nothing.
 */
export function resendsFreely(error: TandemError, method: string): boolean {
  return error.notProcessed || (error.staleConnection && IDEMPOTENT_METHODS.has(method));
}
