import { randomUUID } from 'node:crypto';
import { context as contextApi, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Span, type TextMapGetter, type TextMapPropagator, type TextMapSetter, type Tracer } from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { tandemVersion } from '../../core/version.js';
import { createLogger } from '../../core/log.js';
import { hostOfAuthority } from '../../http/headers.js';
import type { Headers } from '../../http/message.js';
import type { ProxyRequest } from '../../http/request.js';
import type { Direction } from '../requestMetrics.js';
import type { AttemptTrace, RequestTrace, SpanEnding, TraceExemplar, Tracing } from './tracing.js';
import type { Propagator, TracingConfig } from './tracingConfig.js';

const log = createLogger('tracing');

const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const headerSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => void (carrier[key] = value),
};

/** Reads every format Tandem understands; when a request carries both, W3C wins (it is applied last). */
const EXTRACTOR: TextMapPropagator = new CompositePropagator({ propagators: [new B3Propagator(), new W3CTraceContextPropagator()] });

function injector(formats: readonly Propagator[]): TextMapPropagator {
  return new CompositePropagator({
    propagators: formats.map((format) =>
      format === 'tracecontext'
        ? new W3CTraceContextPropagator()
        : new B3Propagator({ injectEncoding: format === 'b3' ? B3InjectEncoding.SINGLE_HEADER : B3InjectEncoding.MULTI_HEADER }),
    ),
  });
}

/** `OTEL_PROPAGATORS`, as far as Tandem can write them (`tracecontext`, `b3`, `b3multi`); others ignored. */
function formatsFromEnv(): Propagator[] | undefined {
  const listed = (process.env['OTEL_PROPAGATORS'] ?? '').split(',').map((name) => name.trim());
  const known = listed.filter((name): name is Propagator => name === 'tracecontext' || name === 'b3' || name === 'b3multi');
  return known.length > 0 ? known : undefined;
}

/**
 * Tracing on the OpenTelemetry Node SDK: spans exported over OTLP/HTTP in batches, sampled
 * parent-based. Tandem propagates context itself (the SDK's global propagator and context manager
 * are not used on the request path): the parent comes from the request's headers, and each
 * attempt's headers are written from its own span.
 */
export function otelTracing(config: TracingConfig, defaultServiceName: string): Tracing {
  const exporter = new OTLPTraceExporter(config.otlp_endpoint === undefined ? {} : { url: new URL('v1/traces', withSlash(config.otlp_endpoint)).href });
  const sdk = new NodeSDK({
    serviceName: config.service_name ?? process.env['OTEL_SERVICE_NAME'] ?? defaultServiceName,
    spanProcessors: [new BatchSpanProcessor(exporter)],
    ...(config.sample_ratio === undefined ? {} : { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sample_ratio) }) }),
    textMapPropagator: null,
    // Traces only: Tandem's metrics are Prometheus (`/metrics`), and it emits no OpenTelemetry logs.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  const tracer = trace.getTracer('tandem', tandemVersion());
  const inject = injector(config.propagators ?? formatsFromEnv() ?? ['tracecontext']);
  log.info('tracing on', { otlp_endpoint: config.otlp_endpoint ?? process.env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '(SDK default)' });
  return {
    startRequest: (request, direction, listener) => new OtelRequestTrace(tracer, inject, request, direction, listener),
    async shutdown() {
      await sdk.shutdown();
      // Lets another sidecar in this process (tests) register its own.
      trace.disable();
      contextApi.disable();
    },
  };
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

class OtelRequestTrace implements RequestTrace {
  readonly requestId: string;
  readonly exemplar: TraceExemplar | undefined;
  private readonly span: Span;
  private readonly parent: Context;
  private readonly generatedRequestId: boolean;
  private unrecordedAttempt: AttemptTrace | undefined;

  constructor(
    private readonly tracer: Tracer,
    private readonly inject: TextMapPropagator,
    private readonly request: ProxyRequest,
    direction: Direction,
    listener: string,
  ) {
    const given = request.headers['x-request-id'];
    this.generatedRequestId = typeof given !== 'string' || given === '';
    this.requestId = this.generatedRequestId ? randomUUID() : (given as string);
    const parent = EXTRACTOR.extract(ROOT_CONTEXT, request.headers, headerGetter);
    // Tandem's samplers decide on the parent and the trace id alone, so attributes are built only
    // for a span that records: an unsampled request allocates no attribute objects.
    this.span = tracer.startSpan(spanName(request), { kind: SpanKind.SERVER }, parent);
    if (this.span.isRecording()) {
      this.span.setAttributes({ ...requestAttributes(request), 'tandem.direction': direction, 'tandem.listener': listener });
      if (request.peer.identity !== undefined) this.span.setAttribute('tandem.peer.identity', request.peer.identity);
      if (request.peer.address !== undefined) this.span.setAttribute('client.address', request.peer.address);
    }
    this.parent = trace.setSpan(ROOT_CONTEXT, this.span);
    this.exemplar = exemplarOf(this.span);
  }

  setUpstream(upstream: string): void {
    this.span.setAttribute('tandem.upstream', upstream);
  }

  beginAttempt(endpoint: string, attempt: number, retryReason: string | undefined): AttemptTrace {
    // Under a span that does not record, neither would the attempt's (sampling is parent-based): each
    // attempt carries the request's own context, unsampled, and nothing more is made for it.
    if (!this.span.isRecording()) return (this.unrecordedAttempt ??= { headers: this.headersFor(this.parent), exemplar: undefined, end: () => undefined });
    const span = this.tracer.startSpan(
      spanName(this.request),
      {
        kind: SpanKind.CLIENT,
        attributes: {
          ...requestAttributes(this.request),
          'tandem.endpoint': endpoint,
          'tandem.attempt': attempt,
          ...endpointAddress(endpoint),
          ...(retryReason === undefined ? {} : { 'tandem.retry_reason': retryReason }),
        },
      },
      this.parent,
    );
    return { headers: this.headersFor(trace.setSpan(ROOT_CONTEXT, span)), exemplar: exemplarOf(span), end: (ending) => endSpan(span, ending, this.request.grpc) };
  }

  /** The trace headers that make `context` an attempt's parent, with the `x-request-id` Tandem made up, if it did. */
  private headersFor(context: Context): Record<string, string> {
    const headers: Record<string, string> = {};
    this.inject.inject(context, headers, headerSetter);
    if (this.generatedRequestId) headers['x-request-id'] = this.requestId;
    return headers;
  }

  end(ending: SpanEnding): void {
    endSpan(this.span, ending, this.request.grpc);
  }
}

/** Only a sampled span is exported, so only its ids can lead from a histogram bucket to a trace. */
function exemplarOf(span: Span): TraceExemplar | undefined {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return (traceFlags & TraceFlags.SAMPLED) === 0 ? undefined : { trace_id: traceId, span_id: spanId };
}

/** HTTP: the method (semantic conventions, without a route template); gRPC: `service/method`. */
function spanName(request: ProxyRequest): string {
  if (!request.grpc) return request.method;
  const rpc = grpcPath(request.path);
  return rpc === undefined ? request.method : `${rpc.service}/${rpc.method}`;
}

function grpcPath(path: string): { service: string; method: string } | undefined {
  const match = /^\/([^/]+)\/([^/?]+)/.exec(path);
  return match === null ? undefined : { service: match[1] as string, method: match[2] as string };
}

/** OpenTelemetry's HTTP and RPC semantic conventions, for what the request itself says. */
function requestAttributes(request: ProxyRequest): Record<string, string | number> {
  const query = request.path.indexOf('?');
  const attributes: Record<string, string | number> = {
    'http.request.method': request.method,
    'url.path': query < 0 ? request.path : request.path.slice(0, query),
    'url.scheme': request.scheme,
    'server.address': hostOfAuthority(request.authority),
    'network.protocol.version': request.protocol === 'http2' ? '2' : '1.1',
  };
  if (request.grpc) {
    attributes['rpc.system'] = 'grpc';
    const rpc = grpcPath(request.path);
    if (rpc !== undefined) {
      attributes['rpc.service'] = rpc.service;
      attributes['rpc.method'] = rpc.method;
    }
  }
  return attributes;
}

function endpointAddress(endpoint: string): Record<string, string | number> {
  const colon = endpoint.lastIndexOf(':');
  return colon < 0 ? {} : { 'network.peer.address': endpoint.slice(0, colon).replace(/^\[|\]$/g, ''), 'network.peer.port': Number(endpoint.slice(colon + 1)) };
}

function endSpan(span: Span, ending: SpanEnding, grpc: boolean): void {
  if (!span.isRecording()) return span.end();
  if (ending.status !== undefined) span.setAttribute('http.response.status_code', ending.status);
  if (ending.grpcStatus !== undefined) span.setAttribute('rpc.grpc.status_code', ending.grpcStatus);
  const failed = ending.error !== undefined || (ending.status !== undefined && ending.status >= 500) || (grpc && ending.grpcStatus !== undefined && ending.grpcStatus !== 0);
  if (failed) {
    const code = (ending.error as { code?: unknown } | undefined)?.code;
    span.setAttribute('error.type', typeof code === 'string' ? code : ending.status !== undefined && !grpc ? String(ending.status) : `grpc ${ending.grpcStatus ?? 'error'}`);
    span.setStatus({ code: SpanStatusCode.ERROR, ...(ending.error === undefined ? {} : { message: ending.error.message }) });
  }
  span.end();
}
