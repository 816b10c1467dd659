import type { z } from 'zod';

/**
 * Active health checking: one probe of one target. Checkers are plugins (`tcp`, `http`, `grpc`),
 * chosen in config as `{ <kind>: {...} }`; the local-app check behind Consul self-registration uses
 * them, and so will per-upstream active health checks.
 */

export interface HealthTarget {
  readonly address: string;
  readonly port: number;
}

export interface HealthVerdict {
  readonly healthy: boolean;
  /** What was seen, for Consul's check output and for logs (`HTTP 503`, `connect ECONNREFUSED`). */
  readonly detail: string;
}

export interface HealthChecker {
  /** One probe; never rejects: a failure to probe is an unhealthy verdict. */
  check(target: HealthTarget, timeoutMs: number): Promise<HealthVerdict>;
}

export interface HealthCheckKind<C = unknown> {
  readonly kind: string;
  readonly configSchema: z.ZodType<C>;
  create(config: C): HealthChecker;
}

const kinds = new Map<string, HealthCheckKind>();

export function registerHealthCheck<C>(kind: HealthCheckKind<C>): void {
  if (kinds.has(kind.kind)) throw new Error(`health check kind "${kind.kind}" is already registered`);
  kinds.set(kind.kind, kind);
}

export function healthCheckKind(name: string): HealthCheckKind | undefined {
  return kinds.get(name);
}

export function registeredHealthChecks(): readonly HealthCheckKind[] {
  return [...kinds.values()];
}

/** Runs `probe` with a deadline; a timeout or a throw becomes an unhealthy verdict. */
export async function withDeadline(timeoutMs: number, probe: (signal: AbortSignal) => Promise<HealthVerdict>): Promise<HealthVerdict> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return await probe(signal);
  } catch (error) {
    if (signal.aborted) return { healthy: false, detail: `no answer within ${timeoutMs} ms` };
    return { healthy: false, detail: (error as Error).message };
  }
}
