import { z } from 'zod';

/** Envoy's cluster defaults (`circuit_breaker.proto`): generous enough never to bite a healthy fleet. */
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_PENDING_REQUESTS = 1024;
export const DEFAULT_MAX_REQUESTS = 1024;
/**
 * Not Envoy's 3. With a fixed cap of 3 as the only guard, a backend that starts failing fast fails
 * clients: least-request sends it a burst (it always looks idle), and every failure of that burst past
 * the third finds no retry slot while the first three sit in backoff. Measured in
 * test/integration/resilience/failover.test.ts: 2–5 of 5,000 calls failed at 20 concurrent for that
 * reason alone, more at higher concurrency — Istio raised the cap to 2^32−1 for the same 503s during
 * rollouts. Tandem always has a retry budget, which bounds retries by rate; this cap only bounds the
 * replay buffers held at once, so it matches max_requests.
 */
export const DEFAULT_MAX_RETRIES = 1024;

const Limit = z.number().int().min(1);

/**
 * An upstream's resource limits (Envoy's `circuit_breakers.thresholds`). Each caps one resource across
 * all of the upstream's endpoints; a request over a limit fails at once with `TANDEM_OVERFLOW` instead
 * of queueing behind a struggling upstream.
 */
export const CircuitBreakerSchema = z.strictObject({
  /** Connections (HTTP/1.1 sockets, HTTP/2 sessions) open to the upstream. At the limit requests wait as pending. */
  max_connections: Limit.default(DEFAULT_MAX_CONNECTIONS),
  /** Requests waiting for a connection or a stream slot. Beyond it: TANDEM_OVERFLOW. */
  max_pending_requests: Limit.default(DEFAULT_MAX_PENDING_REQUESTS),
  /** Requests in flight to the upstream (each attempt counts once). Beyond it: TANDEM_OVERFLOW. */
  max_requests: Limit.default(DEFAULT_MAX_REQUESTS),
  /** Retries in flight, backoff included. Beyond it a failure is returned as it is, not retried. */
  max_retries: Limit.default(DEFAULT_MAX_RETRIES),
});

export type CircuitBreakerConfig = z.output<typeof CircuitBreakerSchema>;
