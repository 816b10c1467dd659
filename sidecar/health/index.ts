import { grpcCheck } from './grpcCheck.js';
import type { HealthCheckKind } from './healthCheck.js';
import { httpCheck } from './httpCheck.js';
import { tcpCheck } from './tcpCheck.js';

/** The built-in health checkers, registered by `setup()`. */
export const BUILTIN_HEALTH_CHECKS: readonly HealthCheckKind[] = [tcpCheck, httpCheck, grpcCheck] as readonly HealthCheckKind[];

export type { HealthChecker, HealthCheckKind, HealthTarget, HealthVerdict } from './healthCheck.js';
export { healthCheckKind, registeredHealthChecks, registerHealthCheck } from './healthCheck.js';
