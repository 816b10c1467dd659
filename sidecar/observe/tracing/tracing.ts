import type { Direction } from '../requestMetrics.js';
import type { ProxyRequest } from '../../http/request.js';
import type { TracingConfig } from './tracingConfig.js';

/**
 * Tracing as the request path sees it: a trace per request Tandem receives (its SERVER span), and a
 * span per attempt it sends upstream (CLIENT). The OpenTelemetry SDK behind it (`otelTracing.ts`) is
 * loaded only when tracing is configured.
 */
export interface Tracing {
  /** Starts the SERVER span of a request, child of the trace context its headers carry (W3C or B3). */
  startRequest(request: ProxyRequest, direction: Direction, listener: string): RequestTrace;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/**
 * A sampled span's ids, as an OpenMetrics exemplar's labels: a duration histogram's bucket points at
 * a trace that landed in it.
 */
export interface TraceExemplar {
  readonly trace_id: string;
  readonly span_id: string;
}

/** The trace of one request Tandem received. */
export interface RequestTrace {
  /** `x-request-id`: the client's, or one made up for it (forwarded on every attempt). */
  readonly requestId: string;
  /** The SERVER span's ids when it is sampled (exported); undefined otherwise. */
  readonly exemplar: TraceExemplar | undefined;
  /** Names the upstream once the router has chosen it. */
  setUpstream(upstream: string): void;
  /**
   * Starts the CLIENT span of one attempt to `endpoint` (`attempt` from 1; `retryReason` for later
   * ones), and gives the headers that carry it upstream.
   */
  beginAttempt(endpoint: string, attempt: number, retryReason: string | undefined): AttemptTrace;
  /** Ends the SERVER span with what the client got. */
  end(ending: SpanEnding): void;
}

export interface AttemptTrace {
  /** Trace headers for this attempt, replacing any the client sent (and `x-request-id` when it sent none). */
  readonly headers: Readonly<Record<string, string>>;
  /** The CLIENT span's ids when it is sampled; undefined otherwise. */
  readonly exemplar: TraceExemplar | undefined;
  end(ending: SpanEnding): void;
}

/** How an exchange ended, as a span records it. */
export interface SpanEnding {
  /** The HTTP status (a gRPC call's too: 200 for a trailers-only error); undefined when none came. */
  readonly status: number | undefined;
  readonly grpcStatus: number | undefined;
  /** What failed, when Tandem or the upstream failed it. */
  readonly error: Error | undefined;
}

/** Every header a trace-context format uses: dropped from what is forwarded when Tandem writes its own. */
export const TRACE_HEADERS: readonly string[] = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

/** Tracing for `config`, or undefined when it is off; the SDK is imported only here, and only then. */
export async function createTracing(config: TracingConfig | undefined, defaultServiceName: string): Promise<Tracing | undefined> {
  if (config === undefined) return undefined;
  const { otelTracing } = await import('./otelTracing.js');
  return otelTracing(config, defaultServiceName);
}
