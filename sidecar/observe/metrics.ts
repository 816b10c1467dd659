import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Registry, type OpenMetricsContentType } from 'prom-client';
import { BoundHistogram } from './boundHistogram.js';
import { DeferredCounter, DeferredGauge } from './deferredMetrics.js';
import { EndpointRequestMetrics, type ConnectionMetrics } from './endpointMetrics.js';
import { exposition, type ExpositionFormat } from './exposition.js';
import { ListenerRequestMetrics, REQUEST_DURATION_BUCKETS, type Direction } from './requestMetrics.js';
import { UpstreamStats } from './upstreamStats.js';

/** The metrics one upstream reports into. */
export interface UpstreamMetrics {
  /** 1 while the upstream is in panic (balancing over all endpoints), else 0. */
  readonly panic: { set(value: number): void };
  /** A request carried none of the hash policy's keys and was balanced at random. */
  readonly hashKeyMissing: { inc(): void };
  /** Discovery answered: the time (Unix seconds) of its last successful answer. */
  readonly discoverySynced: { set(value: number): void };
  /** Discovery failed to answer (the upstream keeps its last known endpoints). */
  readonly discoveryErrors: { inc(): void };
  /** A retry was sent, for the named retry_on condition. */
  readonly retries: { inc(labels: { condition: string }): void };
  /** A retriable failure went back to the client as it was: the budget or max_retries said no. */
  readonly retriesRefused: { inc(labels: { reason: string }): void };
  /** A circuit-breaker limit was hit. */
  readonly overflows: { inc(labels: { limit: string }): void };
  /** Outlier detection ejected an endpoint. */
  readonly ejections: { inc(labels: { reason: string }): void };
  /** Endpoints ejected right now. */
  readonly ejected: { set(value: number): void };
  /** An active health check probe failed. */
  readonly healthCheckFailures: { inc(): void };
  /** Attempts by endpoint. */
  readonly endpoints: Pick<EndpointRequestMetrics, 'record' | 'keepOnly'>;
  /** Connections to the upstream's endpoints. */
  readonly connections: ConnectionMetrics;
  /** Recent traffic, for `/stats`. */
  readonly stats: UpstreamStats;
}

/**
 * Tandem's Prometheus metrics (`tandem_` prefix, base units), served at `GET /metrics`. One registry
 * per sidecar, so several sidecars in one process (tests) do not collide. Metrics are declared here
 * and handed to components as small bound interfaces, so the request path never looks up labels.
 */
export class Metrics {
  /** OpenMetrics, the only kind of registry prom-client keeps exemplars in; `exposition` writes either format. */
  readonly registry = openMetricsRegistry();
  /** Recent traffic per upstream, for `/stats`. */
  readonly stats = new Map<string, UpstreamStats>();

  constructor() {
    // Node's own: CPU, memory and heap spaces, event-loop lag, GC pauses, handles (prom-client's names).
    collectDefaultMetrics({ register: this.registry });
    let last: EventLoopUtilization | undefined;
    new Gauge({
      name: 'tandem_event_loop_utilization',
      help: 'Share of time the event loop was busy (0–1) since the previous scrape (since start, on the first).',
      registers: [this.registry],
      collect() {
        const now = performance.eventLoopUtilization();
        this.set(performance.eventLoopUtilization(now, last).utilization);
        last = now;
      },
    });
  }

  private readonly panic = new Gauge({
    name: 'tandem_lb_panic',
    help: 'Whether the upstream balances over all its endpoints because fewer than healthy_panic_threshold percent are healthy (1) or not (0).',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly hashKeyMissing = new Counter({
    name: 'tandem_lb_hash_key_missing_total',
    help: 'Requests to a hashing upstream that carried none of its hash policy keys and were balanced at random.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });

  private readonly discoverySynced = new Gauge({
    name: 'tandem_discovery_last_sync_timestamp_seconds',
    help: 'When discovery last answered for the upstream (Unix time); time() minus this is how stale its endpoints may be.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly discoveryErrors = new Counter({
    name: 'tandem_discovery_errors_total',
    help: 'Failed discovery queries for the upstream; it keeps its last known endpoints meanwhile.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });

  private readonly retries = new Counter({
    name: 'tandem_retries_total',
    help: 'Retries sent, by the retry_on condition that allowed them.',
    labelNames: ['upstream', 'condition'],
    registers: [this.registry],
  });
  private readonly retriesRefused = new Counter({
    name: 'tandem_retries_refused_total',
    help: 'Retriable failures returned to the client unretried because the retry budget (reason="budget") or max_retries (reason="max_retries") said no.',
    labelNames: ['upstream', 'reason'],
    registers: [this.registry],
  });
  private readonly overflows = new Counter({
    name: 'tandem_circuit_breaker_overflows_total',
    help: 'Times a circuit-breaker limit was reached: requests failed with TANDEM_OVERFLOW (max_requests, max_pending_requests), retries not sent (max_retries), or requests made to wait (max_connections).',
    labelNames: ['upstream', 'limit'],
    registers: [this.registry],
  });
  private readonly ejections = new Counter({
    name: 'tandem_outlier_ejections_total',
    help: 'Endpoints ejected by outlier detection, by detector.',
    labelNames: ['upstream', 'reason'],
    registers: [this.registry],
  });
  private readonly ejected = new Gauge({
    name: 'tandem_outlier_ejected_endpoints',
    help: 'Endpoints currently ejected by outlier detection.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly healthCheckFailures = new Counter({
    name: 'tandem_health_check_failures_total',
    help: 'Active health check probes that failed.',
    labelNames: ['upstream'],
    registers: [this.registry],
  });

  private readonly upstreamRequests = new DeferredCounter({
    name: 'tandem_upstream_requests_total',
    help: 'Attempts sent to an upstream, by endpoint (up to 100 per upstream, then endpoint="other"), counted when they end: the status class and grpc-status of the response, or of the error an attempt without one maps to.',
    labelNames: ['upstream', 'endpoint', 'status_class', 'grpc_status'],
    registers: [this.registry],
  });
  private readonly upstreamRequestDuration = new BoundHistogram({
    name: 'tandem_upstream_request_duration_seconds',
    help: 'Time from an attempt leaving for an endpoint to the end of its response (or its failure).',
    labelNames: ['upstream', 'endpoint', 'status_class'],
    buckets: REQUEST_DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly connectionsOpen = new Gauge({
    name: 'tandem_upstream_connections',
    help: "Connections open (or opening) to the upstream's endpoints.",
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly connectionsOpened = new Counter({
    name: 'tandem_upstream_connections_opened_total',
    help: "Connections opened to the upstream's endpoints (attempts, failed ones included).",
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly connectionsClosed = new Counter({
    name: 'tandem_upstream_connections_closed_total',
    help: "Connections to the upstream's endpoints that closed, connect failures included.",
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly connectFailures = new Counter({
    name: 'tandem_upstream_connect_failures_total',
    help: 'Connections that closed before they were established (refused, timed out, TLS handshake failed).',
    labelNames: ['upstream'],
    registers: [this.registry],
  });

  private readonly requests = new DeferredCounter({
    name: 'tandem_requests_total',
    help: 'Requests a listener received, counted when they finish: by the upstream the router chose ("" when none did), the status class the client got and, for gRPC, the grpc-status.',
    labelNames: ['direction', 'listener', 'upstream', 'status_class', 'grpc_status'],
    registers: [this.registry],
  });
  private readonly requestDuration = new BoundHistogram({
    name: 'tandem_request_duration_seconds',
    help: 'Time from a request head arriving to the end of its response, as the client saw it (local failures included).',
    labelNames: ['direction', 'listener', 'upstream', 'status_class'],
    buckets: REQUEST_DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly requestsActive = new DeferredGauge({
    name: 'tandem_requests_active',
    help: 'Requests a listener is serving right now: received and not yet answered in full.',
    labelNames: ['direction', 'listener', 'upstream'],
    registers: [this.registry],
  });

  private readonly requestBytes = new DeferredCounter({
    name: 'tandem_request_bytes_total',
    help: 'Request body bytes received from clients (headers not included), counted when each request finishes.',
    labelNames: ['direction', 'listener', 'upstream'],
    registers: [this.registry],
  });
  private readonly responseBytes = new DeferredCounter({
    name: 'tandem_response_bytes_total',
    help: 'Response body bytes sent to clients (headers not included), counted when each request finishes.',
    labelNames: ['direction', 'listener', 'upstream'],
    registers: [this.registry],
  });

  private readonly guarded = new Counter({
    name: 'tandem_listener_guarded_total',
    help: 'Connections, streams and requests a listener refused or cut to protect itself, by reason: connection_limit (closed on accept, over max_connections), and the HTTP/1.1 and HTTP/2 abuse guards (see the README).',
    labelNames: ['listener', 'reason'],
    registers: [this.registry],
  });
  private readonly listenerConnections = new Gauge({
    name: 'tandem_listener_connections',
    help: 'Client connections a listener has open, by protocol once known (http1; http2: HTTP/2 sessions, which end with their socket).',
    labelNames: ['listener', 'protocol'],
    registers: [this.registry],
  });
  private readonly passedThrough = new Counter({
    name: 'tandem_passthrough_connections_total',
    help: 'Connections iptables redirected to the HTTP proxy port that were passed through to their original destination as TCP, by reason: opaque_port, not_http, silent (the server speaks first), unknown_host (HTTP/1.1 for no upstream).',
    labelNames: ['listener', 'reason'],
    registers: [this.registry],
  });
  private readonly tlsRefused = new Counter({
    name: 'tandem_tls_refused_total',
    help: 'Connections a mutual-TLS listener refused before any HTTP: plaintext (strict mode), handshake (no client certificate, another CA, expired…), identity (not a workload SVID of this trust domain), timeout.',
    labelNames: ['listener', 'reason'],
    registers: [this.registry],
  });

  private readonly authorizationDenied = new Counter({
    name: 'tandem_authorization_denied_total',
    help: 'Inbound calls denied by the authorization rules (TANDEM_UNAUTHORIZED), by the rule that decided (rules[N] or default); none reached the app.',
    labelNames: ['rule'],
    registers: [this.registry],
  });

  /** Counts denied inbound calls by the rule that denied them. */
  authorizationDenials(): (rule: string) => void {
    return (rule) => this.authorizationDenied.inc({ rule });
  }

  private readonly upstreamTlsRefused = new Counter({
    name: 'tandem_upstream_tls_refused_total',
    help: "Connections to an upstream's endpoints this sidecar refused in the TLS handshake: identity (the server did not prove the SPIFFE ID expected for it), handshake (its chain did not verify, or TLS failed otherwise).",
    labelNames: ['upstream', 'reason'],
    registers: [this.registry],
  });

  /** Counts upstream connections refused in the handshake, by upstream and reason. */
  upstreamTlsRefusals(): (upstream: string, reason: string) => void {
    return (upstream, reason) => this.upstreamTlsRefused.inc({ upstream, reason });
  }

  /** Counts what a listener refused or cut to protect itself (a connection over its limit, an abusive HTTP/2 client…), by reason. */
  listenerGuards(listener: string): (reason: string) => void {
    return (reason) => this.guarded.inc({ listener, reason });
  }

  /** Keeps `tandem_listener_connections`: counts a connection of the listener open; what it returns counts it closed. */
  listenerConnectionsOpen(listener: string): (protocol: string) => () => void {
    for (const protocol of ['http1', 'http2']) this.listenerConnections.set({ listener, protocol }, 0);
    return (protocol) => {
      this.listenerConnections.inc({ listener, protocol });
      return () => this.listenerConnections.dec({ listener, protocol });
    };
  }

  /** Counts the connections a transparent proxy port passed through, by reason. */
  passthroughs(listener: string): (reason: string) => void {
    return (reason) => this.passedThrough.inc({ listener, reason });
  }

  /** Counts a listener's refused TLS connections, by reason. */
  tlsRefusals(listener: string): (reason: string) => void {
    return (reason) => this.tlsRefused.inc({ listener, reason });
  }

  /** `tandem_identity_cert_expiry_seconds`: how long the current certificate has left, read at each scrape. */
  watchIdentity(expiry: () => Date | undefined): void {
    new Gauge({
      name: 'tandem_identity_cert_expiry_seconds',
      help: "Seconds until this sidecar's certificate expires (negative once it has; absent before the first one). Renewal starts at about 2/3 of its life.",
      registers: [this.registry],
      collect() {
        const notAfter = expiry();
        if (notAfter === undefined) this.reset();
        else this.set((notAfter.getTime() - Date.now()) / 1000);
      },
    });
  }

  /** The request metrics of one listener, for its edge stage. */
  forListener(direction: Direction, listener: string): ListenerRequestMetrics {
    const families = { requests: this.requests, duration: this.requestDuration, active: this.requestsActive, requestBytes: this.requestBytes, responseBytes: this.responseBytes };
    return new ListenerRequestMetrics({ direction, listener }, families, (upstream) => this.stats.get(upstream));
  }

  forUpstream(upstream: string): UpstreamMetrics {
    const panic = this.panic.labels(upstream);
    panic.set(0);
    const discoveryErrors = this.discoveryErrors.labels(upstream);
    discoveryErrors.inc(0);
    const ejected = this.ejected.labels(upstream);
    ejected.set(0);
    const stats = new UpstreamStats();
    this.stats.set(upstream, stats);
    const endpoints = new EndpointRequestMetrics(upstream, { attempts: this.upstreamRequests, duration: this.upstreamRequestDuration });
    return {
      panic,
      hashKeyMissing: this.hashKeyMissing.labels(upstream),
      discoverySynced: this.discoverySynced.labels(upstream),
      discoveryErrors,
      retries: {
        inc: (labels) => {
          this.retries.inc({ upstream, ...labels });
          stats.retries.record(true, 0);
        },
      },
      retriesRefused: { inc: (labels) => this.retriesRefused.inc({ upstream, ...labels }) },
      overflows: {
        inc: (labels) => {
          this.overflows.inc({ upstream, ...labels });
          stats.overflows.record(true, 0);
        },
      },
      ejections: { inc: (labels) => this.ejections.inc({ upstream, ...labels }) },
      ejected,
      healthCheckFailures: this.healthCheckFailures.labels(upstream),
      endpoints: {
        record: (endpoint, outcome, grpc, exemplar) => {
          endpoints.record(endpoint, outcome, grpc, exemplar);
          stats.attemptFinished(endpoint, outcome.status, outcome.grpcStatus, outcome.error, outcome.latencyMs);
        },
        keepOnly: (current) => {
          endpoints.keepOnly(current);
          stats.keepOnly(current);
        },
      },
      connections: this.connectionMetrics(upstream),
      stats,
    };
  }

  private connectionMetrics(upstream: string): ConnectionMetrics {
    const open = this.connectionsOpen.labels(upstream);
    open.set(0);
    const opened = this.connectionsOpened.labels(upstream);
    opened.inc(0);
    const closed = this.connectionsClosed.labels(upstream);
    closed.inc(0);
    const failures = this.connectFailures.labels(upstream);
    failures.inc(0);
    return {
      opened: () => {
        opened.inc();
        open.inc();
      },
      closed: (established) => {
        closed.inc();
        open.dec();
        if (!established) failures.inc();
      },
    };
  }

  /** The exposition in the Prometheus text format, or in OpenMetrics with the duration histograms' trace exemplars. */
  exposition(format: ExpositionFormat = 'prometheus'): Promise<string> {
    return exposition(this.registry, format);
  }
}

function openMetricsRegistry(): Registry<OpenMetricsContentType> {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return registry;
}

/** Metrics that go nowhere, for components built outside a sidecar (unit tests). */
export const NO_METRICS: UpstreamMetrics = {
  panic: { set: () => undefined },
  hashKeyMissing: { inc: () => undefined },
  discoverySynced: { set: () => undefined },
  discoveryErrors: { inc: () => undefined },
  retries: { inc: () => undefined },
  retriesRefused: { inc: () => undefined },
  overflows: { inc: () => undefined },
  ejections: { inc: () => undefined },
  ejected: { set: () => undefined },
  healthCheckFailures: { inc: () => undefined },
  endpoints: { record: () => undefined, keepOnly: () => undefined },
  connections: { opened: () => undefined, closed: () => undefined },
  stats: new UpstreamStats(),
};
