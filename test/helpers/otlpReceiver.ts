import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { onCleanup } from './cleanup.js';
import { waitFor } from './wait.js';

/** An attribute value as OTLP carries it: a scalar or a homogeneous array of scalars. */
export type AttributeValue = string | number | boolean | ReadonlyArray<string | number | boolean>;
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** OTLP `Span.SpanKind`, by its enum number. */
const SPAN_KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
/** OTLP `Status.StatusCode`, by its enum number. */
const STATUS_CODES = ['unset', 'ok', 'error'] as const;

/** One span as an OTLP/HTTP exporter sent it, decoded into plain values for assertions. */
export interface ReceivedSpan {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  /** undefined for a root span (the field absent or empty). */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: (typeof SPAN_KINDS)[number];
  readonly attributes: Attributes;
  readonly status: { readonly code: (typeof STATUS_CODES)[number]; readonly message?: string };
  readonly events: ReadonlyArray<{ readonly name: string; readonly attributes: Attributes }>;
  /** The attributes of the resource the span was reported under, e.g. `service.name`. */
  readonly resource: Attributes;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
}

/** An OTLP/HTTP trace receiver on 127.0.0.1, closed after the test. */
export interface OtlpReceiver {
  readonly port: number;
  /** `http://127.0.0.1:port`, the base an exporter appends `/v1/traces` to. */
  readonly endpoint: string;
  /** `endpoint + '/v1/traces'`, the full URL for an exporter's `url` option. */
  readonly tracesUrl: string;
  /** The spans received so far, in arrival order (a copy: later arrivals do not change it). */
  spans(): readonly ReceivedSpan[];
  /**
   * Resolves with the spans matching `filter` once there are at least `count` of them; rejects after
   * `timeoutMs`, naming the spans that did arrive and any requests that were refused.
   */
  waitForSpans(count: number, filter?: (span: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** Requests received on any path, accepted or refused: 0 means nothing tried to export. */
  requests(): number;
}

const TRACES_PATH = '/v1/traces';
const gunzipAsync = promisify(gunzip);
/** google.rpc.Code for each refusal, for the `Status` body OTLP/HTTP asks errors to carry. */
const RPC_CODES: Readonly<Record<number, number>> = { 400: 3, 404: 5, 405: 12, 415: 3, 500: 13 };

/**
 * Starts an OTLP/HTTP receiver that decodes the JSON encoding (OTLP spec, "OTLP/HTTP" → "JSON
 * Protobuf Encoding"), which is what `@opentelemetry/exporter-trace-otlp-http` sends. Protobuf
 * bodies are refused with 415 rather than decoded; malformed bodies get 400. Either way the test
 * can see why in `waitForSpans`'s timeout message.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const refusals: string[] = [];
  let requests = 0;

  const server = createServer((req, res) => {
    requests++;
    receive(req)
      .then((spans) => {
        received.push(...spans);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      })
      .catch((error: unknown) => {
        const refusal = error instanceof Refusal ? error : new Refusal(500, `receiver failed: ${String(error)}`);
        refusals.push(`${refusal.status} ${refusal.message}`);
        refuse(res, refusal);
      });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  onCleanup(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });

  const endpoint = `http://127.0.0.1:${port}`;
  return {
    port,
    endpoint,
    tracesUrl: endpoint + TRACES_PATH,
    spans: () => [...received],
    requests: () => requests,
    async waitForSpans(count, filter = () => true, timeoutMs = 5_000) {
      try {
        await waitFor(`${count} matching span(s)`, () => received.filter(filter).length >= count, timeoutMs);
      } catch (error) {
        throw new Error(`${(error as Error).message}; ${describeArrivals(received, refusals)}`, { cause: error });
      }
      return received.filter(filter);
    },
  };
}

/** A request the receiver answers with an error status instead of 200. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function receive(req: IncomingMessage): Promise<ReceivedSpan[]> {
  // Read the body whatever the verdict, so a refused request leaves the exporter's keep-alive
  // connection usable for its next export.
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const path = (req.url ?? '').split('?')[0];
  if (path !== TRACES_PATH) throw new Refusal(404, `no route for ${path}: OTLP traces are POSTed to ${TRACES_PATH}`);
  if (req.method !== 'POST') throw new Refusal(405, `${req.method} ${TRACES_PATH}: OTLP traces are POSTed`);
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (contentType !== 'application/json') {
    throw new Refusal(415, `content-type '${contentType}' is not decoded: this test receiver takes only application/json (OTLP/HTTP JSON)`);
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') throw new Refusal(415, `content-encoding '${encoding}' is not decoded: only gzip or none`);
  let body = Buffer.concat(chunks);
  if (encoding === 'gzip') {
    try {
      body = await gunzipAsync(body);
    } catch (error) {
      throw new Refusal(400, `bad gzip body: ${(error as Error).message}`);
    }
  }
  let request: unknown;
  try {
    request = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new Refusal(400, `malformed JSON: ${(error as Error).message}`);
  }
  return decodeExportRequest(request);
}

function refuse(res: ServerResponse, refusal: Refusal): void {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (refusal.status === 405) headers.allow = 'POST';
  res.writeHead(refusal.status, headers).end(JSON.stringify({ code: RPC_CODES[refusal.status] ?? 2, message: refusal.message }));
}

function describeArrivals(spans: readonly ReceivedSpan[], refusals: readonly string[]): string {
  const listed = spans.slice(0, 20).map((span) => `"${span.name}" (${span.kind})`);
  if (spans.length > listed.length) listed.push(`and ${spans.length - listed.length} more`);
  const arrived = `received ${spans.length} span(s)${listed.length > 0 ? `: ${listed.join(', ')}` : ''}`;
  return refusals.length === 0 ? arrived : `${arrived}; refused ${refusals.length} request(s): ${refusals.join('; ')}`;
}

// Decoding of an ExportTraceServiceRequest in the OTLP JSON encoding: proto3 JSON with lowerCamelCase
// keys, trace and span ids as case-insensitive hex, enums as integers, and 64-bit integers as
// either JSON numbers or decimal strings. proto3 JSON may omit any field holding its default value.

type Json = Readonly<Record<string, unknown>>;

function decodeExportRequest(request: unknown): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  listAt(objectAt(request, 'request').resourceSpans, 'resourceSpans').forEach((value, r) => {
    const resourceSpans = objectAt(value, `resourceSpans[${r}]`);
    const where = `resourceSpans[${r}]`;
    const resource = attributesAt(optionalObjectAt(resourceSpans.resource, `${where}.resource`).attributes, `${where}.resource.attributes`);
    listAt(resourceSpans.scopeSpans, `${where}.scopeSpans`).forEach((scopeSpans, s) => {
      listAt(objectAt(scopeSpans, `${where}.scopeSpans[${s}]`).spans, `${where}.scopeSpans[${s}].spans`).forEach((span, i) =>
        spans.push(decodeSpan(span, resource, `${where}.scopeSpans[${s}].spans[${i}]`)),
      );
    });
  });
  return spans;
}

function decodeSpan(value: unknown, resource: Attributes, where: string): ReceivedSpan {
  const span = objectAt(value, where);
  const status = optionalObjectAt(span.status, `${where}.status`);
  const statusMessage = stringAt(status.message, `${where}.status.message`);
  const parentSpanId = stringAt(span.parentSpanId, `${where}.parentSpanId`);
  return {
    traceId: hexAt(span.traceId, 32, `${where}.traceId`),
    spanId: hexAt(span.spanId, 16, `${where}.spanId`),
    parentSpanId: parentSpanId === '' ? undefined : hexAt(parentSpanId, 16, `${where}.parentSpanId`),
    name: stringAt(span.name, `${where}.name`),
    kind: enumAt(span.kind, SPAN_KINDS, `${where}.kind`),
    attributes: attributesAt(span.attributes, `${where}.attributes`),
    status: {
      code: enumAt(status.code, STATUS_CODES, `${where}.status.code`),
      ...(statusMessage === '' ? {} : { message: statusMessage }),
    },
    events: listAt(span.events, `${where}.events`).map((event, e) => {
      const fields = objectAt(event, `${where}.events[${e}]`);
      return { name: stringAt(fields.name, `${where}.events[${e}].name`), attributes: attributesAt(fields.attributes, `${where}.events[${e}].attributes`) };
    }),
    resource,
    startTimeUnixNano: uint64At(span.startTimeUnixNano, `${where}.startTimeUnixNano`),
    endTimeUnixNano: uint64At(span.endTimeUnixNano, `${where}.endTimeUnixNano`),
  };
}

function attributesAt(value: unknown, where: string): Attributes {
  return Object.fromEntries(
    listAt(value, where).map((entry, i) => {
      const keyValue = objectAt(entry, `${where}[${i}]`);
      const key = stringAt(keyValue.key, `${where}[${i}].key`);
      return [key, anyValueAt(keyValue.value, `${where}[${i}] ('${key}')`, true)];
    }),
  );
}

/**
 * An `AnyValue`. `kvlistValue`, `bytesValue` and the empty value (a null array element) are refused
 * rather than decoded: nothing Tandem sets produces them, and a refusal names the attribute.
 */
function anyValueAt(value: unknown, where: string, arraysAllowed: true): AttributeValue;
function anyValueAt(value: unknown, where: string, arraysAllowed: false): string | number | boolean;
function anyValueAt(value: unknown, where: string, arraysAllowed: boolean): AttributeValue {
  const fields = objectAt(value, where);
  if ('stringValue' in fields) return stringAt(fields.stringValue, `${where}.stringValue`);
  if ('boolValue' in fields) {
    if (typeof fields.boolValue !== 'boolean') throw invalid(`${where}.boolValue`, 'a boolean', fields.boolValue);
    return fields.boolValue;
  }
  if ('intValue' in fields) return int64At(fields.intValue, `${where}.intValue`);
  if ('doubleValue' in fields) return doubleAt(fields.doubleValue, `${where}.doubleValue`);
  if ('arrayValue' in fields && arraysAllowed) {
    const values = optionalObjectAt(fields.arrayValue, `${where}.arrayValue`).values;
    return listAt(values, `${where}.arrayValue.values`).map((element, i) => anyValueAt(element, `${where}.arrayValue.values[${i}]`, false));
  }
  const kind = Object.keys(fields)[0] ?? 'an empty value';
  throw new Refusal(400, `${where}: ${kind} is not decoded by this test receiver (only string, bool, int, double and arrays of those)`);
}

function objectAt(value: unknown, where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(where, 'an object', value);
  return value as Json;
}

/** A message field proto3 JSON may omit: absent reads as an empty message. */
function optionalObjectAt(value: unknown, where: string): Json {
  return value === undefined ? {} : objectAt(value, where);
}

/** A repeated field; absent reads as empty. */
function listAt(value: unknown, where: string): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(where, 'an array', value);
  return value;
}

function stringAt(value: unknown, where: string): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw invalid(where, 'a string', value);
  return value;
}

function hexAt(value: unknown, digits: number, where: string): string {
  const text = stringAt(value, where);
  if (text.length !== digits || !/^[0-9a-f]*$/i.test(text)) throw invalid(where, `${digits} hex digits`, value);
  return text.toLowerCase();
}

/** An enum field; absent reads as 0. */
function enumAt<T>(value: unknown, names: readonly T[], where: string): T {
  const name = typeof value === 'number' ? names[value] : value === undefined ? names[0] : undefined;
  if (name === undefined) throw invalid(where, `an enum number 0..${names.length - 1}`, value);
  return name;
}

function int64At(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  throw invalid(where, 'an integer or a decimal string', value);
}

function uint64At(value: unknown, where: string): bigint {
  if (value === undefined) return 0n;
  if ((typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) || (typeof value === 'string' && /^\d+$/.test(value))) return BigInt(value);
  throw invalid(where, 'an unsigned integer or a decimal string', value);
}

/** proto3 JSON writes non-finite doubles as strings, and accepts numbers written as strings. */
function doubleAt(value: unknown, where: string): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  throw invalid(where, 'a number', value);
}

function invalid(where: string, expected: string, value: unknown): Refusal {
  return new Refusal(400, `${where} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}
