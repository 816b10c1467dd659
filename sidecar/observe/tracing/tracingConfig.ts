import { z } from 'zod';

/** Trace-context formats Tandem writes on the requests it sends (it reads all of them). */
export const Propagator = z.enum(['tracecontext', 'b3', 'b3multi']);
export type Propagator = z.infer<typeof Propagator>;

/**
 * `tracing:` — OpenTelemetry traces, exported over OTLP/HTTP. Absent: tracing is off and its SDK is
 * never loaded (trace headers still pass through untouched). Keys left out fall back to the standard
 * `OTEL_*` environment variables, then to the SDK's defaults.
 */
export const TracingSchema = z.strictObject({
  /** The OTLP/HTTP collector, e.g. `http://127.0.0.1:4318` (spans go to `<endpoint>/v1/traces`); else `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`. */
  otlp_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** Share of new traces recorded (parent-based: a caller's decision is followed); else `OTEL_TRACES_SAMPLER(_ARG)`, default all. */
  sample_ratio: z.number().min(0).max(1).optional(),
  /** Formats written upstream; else `OTEL_PROPAGATORS`, default `tracecontext`. */
  propagators: z.array(Propagator).min(1).optional(),
  /** The `service.name` of Tandem's spans; else `OTEL_SERVICE_NAME`, else `tandem-<service.name>`, else `tandem`. */
  service_name: z.string().min(1).optional(),
});

export type TracingConfig = z.output<typeof TracingSchema>;
