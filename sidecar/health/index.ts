import { grpcCheck } from './grpcCheck.js';
import { registerHealthCheck } from './healthCheck.js';
import { httpCheck } from './httpCheck.js';
import { tcpCheck } from './tcpCheck.js';

/** The built-in health checkers; importing this module registers them. */
registerHealthCheck(tcpCheck);
registerHealthCheck(httpCheck);
registerHealthCheck(grpcCheck);

export type { HealthChecker, HealthCheckKind, HealthTarget, HealthVerdict } from './healthCheck.js';
export { healthCheckKind, registeredHealthChecks, registerHealthCheck } from './healthCheck.js';
