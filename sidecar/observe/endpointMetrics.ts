import type { Outcome } from '../balancer/balancer.js';
import { replyStatus } from '../listener/respond.js';
import { GrpcStatus } from '../http/grpc.js';
import type { DeferredCounter, DeferredSeries } from './deferredMetrics.js';
import type { BoundHistogram, HistogramSeries } from './boundHistogram.js';
import type { TraceExemplar } from './tracing/tracing.js';

/**
 * Endpoints with series of their own per upstream; the rest fold into `endpoint="other"`. Series of
 * endpoints discovery has removed are dropped, so the cap bounds what is live, not what ever was.
 */
export const MAX_ENDPOINT_SERIES = 100;
export const OTHER_ENDPOINT = 'other';

export interface EndpointMetricFamilies {
  readonly attempts: DeferredCounter<'upstream' | 'endpoint' | 'status_class' | 'grpc_status'>;
  readonly duration: BoundHistogram<'upstream' | 'endpoint' | 'status_class'>;
}

interface Bound {
  readonly count: DeferredSeries;
  readonly duration: HistogramSeries;
}

/**
 * The per-endpoint request metrics of one upstream: each attempt Tandem sent, by the endpoint that
 * got it and how it ended — the status class and gRPC status of the response, or for an attempt
 * that got none, those its error maps to (a connect failure counts as 5xx, gRPC 14).
 */
export class EndpointRequestMetrics {
  /** Per endpoint id (or "other"), its series by (status class, gRPC status). */
  private readonly series = new Map<string, Map<number, Bound>>();

  constructor(
    private readonly upstream: string,
    private readonly families: EndpointMetricFamilies,
    private readonly cap = MAX_ENDPOINT_SERIES,
  ) {}

  /** Counts one attempt; a sampled attempt's span becomes its duration bucket's exemplar. */
  record(endpointId: string, outcome: Outcome, grpc: boolean, exemplar?: TraceExemplar): void {
    let status = outcome.status;
    let grpcStatus = outcome.grpcStatus;
    if (status === undefined) {
      const reply = replyStatus(outcome.error, grpc);
      status = reply.status;
      grpcStatus = reply.grpcStatus;
    }
    if (grpcStatus !== undefined && grpcStatus > GrpcStatus.Unauthenticated) grpcStatus = GrpcStatus.Unknown;
    const endpoint = this.series.has(endpointId) || this.series.size < this.cap ? endpointId : OTHER_ENDPOINT;
    let byEnding = this.series.get(endpoint);
    if (byEnding === undefined) this.series.set(endpoint, (byEnding = new Map<number, Bound>()));
    const statusClass = Math.floor(status / 100);
    const key = statusClass * 32 + (grpcStatus === undefined ? 0 : grpcStatus + 1);
    let bound = byEnding.get(key);
    if (bound === undefined) {
      const status_class = `${statusClass}xx`;
      const grpc_status = grpcStatus === undefined ? '' : String(grpcStatus);
      bound = {
        count: this.families.attempts.bind({ upstream: this.upstream, endpoint, status_class, grpc_status }),
        duration: this.families.duration.bind({ upstream: this.upstream, endpoint, status_class }),
      };
      byEnding.set(key, bound);
    }
    bound.count.inc();
    bound.duration.observe(outcome.latencyMs / 1000, exemplar);
  }

  /** Drops the series of endpoints no longer in `current` (removed by discovery), freeing their places. */
  keepOnly(current: ReadonlySet<string>): void {
    for (const [endpoint, byEnding] of [...this.series]) {
      if (endpoint === OTHER_ENDPOINT || current.has(endpoint)) continue;
      this.series.delete(endpoint);
      for (const bound of byEnding.values()) {
        bound.count.remove();
        bound.duration.remove();
      }
    }
  }
}

/** Connections to one upstream's endpoints, counted where its pools open them. */
export interface ConnectionMetrics {
  opened(): void;
  /** A connection closed; `established` false: it never connected (a connect failure). */
  closed(established: boolean): void;
}
