import { z } from 'zod';
import { DurationField } from '../config/fields.js';
import { formatDurationMs } from '../core/duration.js';

/**
 * What one listener lets a client use, against hostile and broken clients alike. Every listener kind
 * (inbound, outbound, gateways) takes these keys beside its timeouts; the defaults sit next to Envoy's
 * in the README. A sidecar's listeners serve its own app and mesh peers; a gateway serves strangers,
 * so a few defaults are stricter there (`GATEWAY_LIMIT_DEFAULTS`).
 */
export interface ListenerLimits {
  /** Connections open at once; a connection beyond it is closed as soon as it is accepted. */
  readonly maxConnections: number;
  /** Size of a request head in bytes, HTTP/1.1 and HTTP/2 alike; over it: 431. */
  readonly maxRequestHeaderBytes: number;
  /** Header fields in a request head; over it: 431. */
  readonly maxHeadersCount: number;
  /** What a header name with `_` gets: passed on, dropped, or the request refused with 400. */
  readonly headersWithUnderscores: 'allow' | 'drop' | 'reject';
  /** HTTP/2 streams a client may have open on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /**
   * Time an HTTP/1.1 request has to arrive whole, head and body, from its first byte (Envoy's
   * `request_timeout`); over it: 408 and the connection closed (slow-body guard). 0 is off.
   */
  readonly requestTimeoutMs: number;
}

export const SIDECAR_LIMIT_DEFAULTS: ListenerLimits = {
  // Envoy sets no per-listener limit; 100K is the scale Tandem is built for (docs/benchmarks.md).
  maxConnections: 100_000,
  maxRequestHeaderBytes: 60 * 1024, // Envoy max_request_headers_kb 60
  maxHeadersCount: 100, // Envoy max_headers_count 100
  headersWithUnderscores: 'allow', // Envoy's default; apps in a mesh may use such names
  maxConcurrentStreams: 1024, // gRPC clients multiplex many calls on one connection to their sidecar
  requestTimeoutMs: 0, // Envoy's default: uploads and long polls from the local app may last
};

export const GATEWAY_LIMIT_DEFAULTS: ListenerLimits = {
  ...SIDECAR_LIMIT_DEFAULTS,
  headersWithUnderscores: 'reject', // Envoy's edge best practice: they can smuggle past CGI-style header mapping
  maxConcurrentStreams: 100, // Envoy's edge best practice
  requestTimeoutMs: 5 * 60_000, // Envoy's edge best practice (request_timeout 300 s)
};

/** The limit keys of a listener's configuration, with `defaults` filled in. */
export function limitFields(defaults: ListenerLimits) {
  return {
    max_connections: z.int().min(1).max(10_000_000).default(defaults.maxConnections),
    max_request_headers_kb: z.int().min(1).max(8_192).default(defaults.maxRequestHeaderBytes / 1024),
    max_headers_count: z.int().min(1).max(10_000).default(defaults.maxHeadersCount),
    headers_with_underscores: z.enum(['allow', 'drop', 'reject']).default(defaults.headersWithUnderscores),
    max_concurrent_streams: z.int().min(1).max(2 ** 31 - 1).default(defaults.maxConcurrentStreams),
    request_timeout: DurationField.prefault(formatDurationMs(defaults.requestTimeoutMs)),
  };
}

/** A listener's validated limit keys, as the listener takes them. */
export function limitsOf(config: {
  readonly max_connections: number;
  readonly max_request_headers_kb: number;
  readonly max_headers_count: number;
  readonly headers_with_underscores: ListenerLimits['headersWithUnderscores'];
  readonly max_concurrent_streams: number;
  readonly request_timeout: { readonly ms: number };
}): ListenerLimits {
  return {
    maxConnections: config.max_connections,
    maxRequestHeaderBytes: config.max_request_headers_kb * 1024,
    maxHeadersCount: config.max_headers_count,
    headersWithUnderscores: config.headers_with_underscores,
    maxConcurrentStreams: config.max_concurrent_streams,
    requestTimeoutMs: config.request_timeout.ms,
  };
}
