import type { BoundHistogram, HistogramSeries } from './boundHistogram.js';
import type { DeferredCounter, DeferredGauge, DeferredGaugeSeries } from './deferredMetrics.js';
import { GrpcStatus } from '../http/grpc.js';
import type { TraceExemplar } from './tracing/tracing.js';
import type { UpstreamStats } from './upstreamStats.js';

/** Which side a listener serves: the local app's calls out, peers' calls in, or outside clients at a gateway. */
export type Direction = 'inbound' | 'outbound' | 'gateway';

/**
 * Request duration buckets in seconds: sub-millisecond steps where a sidecar's own cost shows, up to
 * the 15 s route timeout and past it.
 */
export const REQUEST_DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The highest status code gRPC defines (16, UNAUTHENTICATED). */
const MAX_GRPC_STATUS = GrpcStatus.Unauthenticated;

type Labels = 'direction' | 'listener' | 'upstream' | 'status_class' | 'grpc_status';

/** The metrics of one listener and one upstream behind it, bound to their labels once. */
export class RouteRequestMetrics {
  private readonly active: DeferredGaugeSeries;
  private readonly requestBytes: { inc(value: number): void };
  private readonly responseBytes: { inc(value: number): void };
  private readonly endings = new Map<number, Ending>();

  constructor(
    private readonly labels: { readonly direction: Direction; readonly listener: string; readonly upstream: string },
    private readonly metrics: RequestMetricFamilies,
    private readonly stats: UpstreamStats | undefined,
  ) {
    this.active = metrics.active.bind(labels); // the series exists from here on, at 0 between bursts
    this.requestBytes = metrics.requestBytes.bind(labels);
    this.responseBytes = metrics.responseBytes.bind(labels);
  }

  started(): void {
    this.active.inc();
  }

  /**
   * A request ended as its client saw it: with HTTP `status`, for gRPC calls with `grpcStatus`
   * (undefined for plain HTTP), having arrived at `receivedAt` on the `performance.now()` clock; a
   * sampled request's trace becomes its duration bucket's exemplar.
   */
  finished(
    status: number,
    grpcStatus: number | undefined,
    receivedAt: number,
    bytes: { readonly request: number; readonly response: number } = NO_BYTES,
    exemplar?: TraceExemplar,
  ): void {
    this.active.dec();
    const statusClass = Math.floor(status / 100);
    // A status gRPC does not define reads as UNKNOWN, as gRPC clients read it; nor can an upstream
    // inventing statuses grow the label set without bound.
    if (grpcStatus !== undefined && grpcStatus > MAX_GRPC_STATUS) grpcStatus = GrpcStatus.Unknown;
    // One small integer per (status class, gRPC status) pair: no strings built per request.
    const key = statusClass * 32 + (grpcStatus === undefined ? 0 : grpcStatus + 1);
    let bound = this.endings.get(key);
    if (bound === undefined) {
      const { direction, listener, upstream } = this.labels;
      const status_class = `${statusClass}xx`;
      const durationLabels = { direction, listener, upstream, status_class };
      bound = {
        count: this.metrics.requests.bind({ direction, listener, upstream, status_class, grpc_status: grpcStatus === undefined ? '' : String(grpcStatus) }),
        duration: this.metrics.duration.bind(durationLabels),
      };
      this.endings.set(key, bound);
    }
    const elapsedMs = performance.now() - receivedAt;
    bound.count.inc();
    bound.duration.observe(elapsedMs / 1000, exemplar);
    if (bytes.request > 0) this.requestBytes.inc(bytes.request);
    if (bytes.response > 0) this.responseBytes.inc(bytes.response);
    this.stats?.requestFinished(status, grpcStatus, elapsedMs);
  }
}

export interface RequestMetricFamilies {
  readonly requests: DeferredCounter<Labels>;
  readonly duration: BoundHistogram<Exclude<Labels, 'grpc_status'>>;
  readonly active: DeferredGauge<'direction' | 'listener' | 'upstream'>;
  readonly requestBytes: DeferredCounter<'direction' | 'listener' | 'upstream'>;
  readonly responseBytes: DeferredCounter<'direction' | 'listener' | 'upstream'>;
}

const NO_BYTES = { request: 0, response: 0 } as const;

interface Ending {
  readonly count: { inc(): void };
  readonly duration: HistogramSeries;
}

/**
 * A listener's request metrics, with each upstream's series bound on first use so the request path
 * never hashes label sets (prom-client's `labels()` does, on every call).
 */
export class ListenerRequestMetrics {
  private readonly routes = new Map<string, RouteRequestMetrics>();

  constructor(
    private readonly labels: { readonly direction: Direction; readonly listener: string },
    private readonly metrics: RequestMetricFamilies,
    /** The recent-traffic stats of an upstream, if it has any (the local app has none). */
    private readonly statsOf: (upstream: string) => UpstreamStats | undefined = () => undefined,
  ) {}

  /** The series for requests routed to `upstream`; "" for requests no route took. */
  route(upstream: string | undefined): RouteRequestMetrics {
    const name = upstream ?? '';
    let bound = this.routes.get(name);
    if (bound === undefined) {
      bound = new RouteRequestMetrics({ ...this.labels, upstream: name }, this.metrics, this.statsOf(name));
      this.routes.set(name, bound);
    }
    return bound;
  }
}
