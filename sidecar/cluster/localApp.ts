import type { ServiceConfig } from '../config/schema.js';
import type { Service } from '../http/message.js';
import { dispatch } from '../layers/balance.js';
import { ResourceLimits } from '../limits/resourceLimits.js';
import type { Connector } from '../upstream/connector.js';
import { createPool } from '../upstream/pools.js';
import { Endpoint } from './endpoint.js';

/** The local app's name in `/clusters` and metrics (Envoy and Consul call it `local_app` too). */
export const LOCAL_APP = 'local_app';

/** The app listens on this host: a connect that takes longer means it is not there. */
const CONNECT_TIMEOUT_MS = 1_000;
/** As an upstream's defaults: HTTP/1.1 sockets (or HTTP/2 sessions) kept open to the app. */
const MAX_CONNECTIONS = 256;
const MAX_CONCURRENT_STREAMS = 1024;
const IDLE_TIMEOUT_MS = 30_000;

/**
 * The app behind the inbound listener: one address and one connection pool, and nothing an upstream
 * has for choosing among endpoints — no discovery, balancer, outlier detection or health checks — and
 * no circuit-breaker limits: the calling sidecar owns the request's policy, and shedding here would
 * only hide the app's own capacity. Its one endpoint keeps the counters `/clusters` shows.
 */
export class LocalApp {
  readonly endpoint: Endpoint;
  /** Sends one attempt to the app and counts it. */
  readonly service: Service;

  constructor(
    private readonly app: ServiceConfig,
    connector: Connector,
  ) {
    const limits = new ResourceLimits(LOCAL_APP, ResourceLimits.UNLIMITED);
    const pool = createPool(app.protocol, {
      upstream: LOCAL_APP,
      address: app.address,
      port: app.port,
      connector,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      serverName: app.name,
      expectedIdentity: undefined,
      maxConnections: MAX_CONNECTIONS,
      maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      limits,
    });
    this.endpoint = new Endpoint({ address: app.address, port: app.port, weight: 1, health: 'healthy', metadata: {} }, pool, undefined);
    const endpoint = this.endpoint;
    this.service = (request, context) => dispatch(endpoint, request, context);
  }

  close(): void {
    this.endpoint.pool.close();
  }

  /** The `/clusters` view. */
  toJSON(): object {
    return { name: LOCAL_APP, service: this.app.name, protocol: this.app.protocol, endpoints: [this.endpoint.toJSON()] };
  }
}
