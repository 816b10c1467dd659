/**
 * Tandem's public API: run a sidecar from code, and the seams to extend it. Named exports only;
 * everything else under sidecar/ is internal and may change.
 */
export { Sidecar, type SidecarOptions } from './sidecar.js';
export { LOCAL_APP } from './cluster/localApp.js';
export { ConfigError, loadConfigFile, parseConfig, type LoadedConfig } from './config/load.js';
export { setup } from './setup.js';
export type { TandemConfig, UpstreamConfig, ServiceConfig, PoolConfig } from './config/schema.js';
export { Duration } from './core/duration.js';
export { ErrorCode, TandemError, type ErrorContext } from './core/errors.js';
export { createLogger, setLogLevel, setLogSink, type Logger, type LogLevel } from './core/log.js';
export { startMemoryGovernor } from './core/memoryGovernor.js';

// Balancing seam: register a policy by name; it becomes valid in `lb.policy`.
export type {
  Balancer,
  BalancerEndpoint,
  BalancerFactory,
  BalancerHelper,
  Outcome,
  PickContext,
  PickResult,
  Picker,
} from './balancer/balancer.js';
export { registerBalancer, registeredBalancers } from './balancer/registry.js';

// The request path's vocabulary, for layers.
export type { Headers, Layer, ProxyResponse, ResponseBody, ResponseSink, Service } from './http/message.js';
export { ProxyRequest, type DownstreamConnection, type Peer, type RequestHead } from './http/request.js';
export { RequestContext } from './http/context.js';
export type { AttemptTrace, RequestTrace, SpanEnding, Tracing } from './observe/tracing/tracing.js';
export { RequestBody } from './http/requestBody.js';
export { stack } from './http/message.js';

// Transport seam: how upstream connections are opened.
export { plaintextConnector, type Connector, type ConnectTarget } from './upstream/connector.js';

// Health-check seam: register a checker kind; it becomes valid in `service.health_check` and `upstreams[].health_check`.
export { registerHealthCheck, registeredHealthChecks, type HealthChecker, type HealthCheckKind, type HealthTarget, type HealthVerdict } from './health/index.js';
