import { gzipSync } from 'node:zlib';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request } from '../helpers/clients.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver.js';

type ExporterConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;

/**
 * A tracer provider exporting to `receiver` through the real OTLP/HTTP exporter, shut down after the
 * test; `results` collects what each export reported, so a test sees the exporter accept the answer.
 */
function providerExportingTo(receiver: OtlpReceiver, config: ExporterConfig = {}): { provider: BasicTracerProvider; results: ExportResult[] } {
  const exporter = new OTLPTraceExporter({ ...config, url: receiver.tracesUrl });
  const results: ExportResult[] = [];
  const recording: SpanExporter = {
    export: (spans, done) =>
      exporter.export(spans, (result) => {
        results.push(result);
        done(result);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'otlp-receiver-test' }),
    spanProcessors: [new BatchSpanProcessor(recording)],
  });
  onCleanup(() => provider.shutdown());
  return { provider, results };
}

/** A SERVER span `inbound` with a CLIENT child `upstream` carrying one attribute of each type, an event and an error. */
function recordRequest(provider: BasicTracerProvider): { server: string; client: string; traceId: string } {
  const tracer = provider.getTracer('otlp-receiver-test');
  const server = tracer.startSpan('inbound', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET' } });
  const client = tracer.startSpan('upstream', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), server));
  client.setAttributes({
    'server.address': 'svc',
    'server.port': 8080,
    'tandem.weight': 0.25,
    'tandem.retried': true,
    'tandem.endpoints': ['10.0.0.1:80', '10.0.0.2:80'],
  });
  client.addEvent('retry', { 'tandem.attempt': 2 });
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream reset' });
  client.end();
  server.end();
  return { server: server.spanContext().spanId, client: client.spanContext().spanId, traceId: server.spanContext().traceId };
}

function postTraces(receiver: OtlpReceiver, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): ReturnType<typeof h1Request> {
  return h1Request(receiver.port, { method: 'POST', path: '/v1/traces', headers: { 'content-type': contentType, ...headers }, body });
}

function byName(spans: readonly ReceivedSpan[], name: string): ReceivedSpan {
  const span = spans.find((candidate) => candidate.name === name);
  if (span === undefined) throw new Error(`no span named ${name} among ${spans.map((s) => s.name).join(', ')}`);
  return span;
}

describe('OTLP/HTTP test receiver', () => {
  it('decodes what the real exporter sends: ids, parentage, kinds, attributes, events, status, resource', async () => {
    const receiver = await startOtlpReceiver();
    const { provider, results } = providerExportingTo(receiver);
    const before = BigInt(Date.now()) * 1_000_000n;
    const ids = recordRequest(provider);
    await provider.forceFlush();

    // The receiver stores spans before it answers, so a finished flush means they are all there.
    expect(results.map((result) => result.code)).toEqual([ExportResultCode.SUCCESS]);
    expect(receiver.requests()).toBe(1);
    expect(receiver.spans()).toHaveLength(2);
    const server = byName(receiver.spans(), 'inbound');
    const client = byName(receiver.spans(), 'upstream');

    expect(server).toMatchObject({ traceId: ids.traceId, spanId: ids.server, parentSpanId: undefined, kind: 'server' });
    expect(server.attributes).toEqual({ 'http.request.method': 'GET' });
    expect(server.status).toEqual({ code: 'unset' });
    expect(server.events).toEqual([]);

    expect(client).toMatchObject({ traceId: ids.traceId, spanId: ids.client, parentSpanId: ids.server, kind: 'client' });
    expect(client.attributes).toEqual({
      'server.address': 'svc',
      'server.port': 8080,
      'tandem.weight': 0.25,
      'tandem.retried': true,
      'tandem.endpoints': ['10.0.0.1:80', '10.0.0.2:80'],
    });
    expect(client.events).toEqual([{ name: 'retry', attributes: { 'tandem.attempt': 2 } }]);
    expect(client.status).toEqual({ code: 'error', message: 'upstream reset' });

    for (const span of [server, client]) {
      expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.resource['service.name']).toBe('otlp-receiver-test');
      expect(span.startTimeUnixNano).toBeGreaterThanOrEqual(before);
      expect(span.endTimeUnixNano).toBeGreaterThanOrEqual(span.startTimeUnixNano);
    }
  });

  it('decodes a gzip-compressed export', async () => {
    const receiver = await startOtlpReceiver();
    // The config's type is an enum of otlp-exporter-base, a package Tandem does not depend on directly.
    const { provider, results } = providerExportingTo(receiver, { compression: 'gzip' as NonNullable<ExporterConfig['compression']> });
    const ids = recordRequest(provider);
    await provider.forceFlush();

    expect(results.map((result) => result.code)).toEqual([ExportResultCode.SUCCESS]);
    expect(byName(receiver.spans(), 'upstream').parentSpanId).toBe(ids.server);
  });

  it('decodes the spec forms the JS exporter does not send: upper-case ids, string intValue, omitted defaults', async () => {
    const receiver = await startOtlpReceiver();
    const span = {
      traceId: '0AF7651916CD43DD8448EB211C80319C',
      spanId: 'B7AD6B7169203331',
      parentSpanId: '',
      name: 'hand-written',
      startTimeUnixNano: '1700000000000000001',
      endTimeUnixNano: 1700000000000000,
      attributes: [
        { key: 'count', value: { intValue: '42' } },
        { key: 'ratio', value: { doubleValue: 'Infinity' } },
      ],
    };
    const body = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] });

    const response = await postTraces(receiver, 'application/json; charset=utf-8', gzipSync(body), { 'content-encoding': 'gzip' });

    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('{}');
    expect(receiver.spans()).toEqual([
      {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        parentSpanId: undefined,
        name: 'hand-written',
        kind: 'unspecified',
        attributes: { count: 42, ratio: Infinity },
        status: { code: 'unset' },
        events: [],
        resource: {},
        startTimeUnixNano: 1700000000000000001n,
        endTimeUnixNano: 1700000000000000n,
      },
    ]);
  });

  it('answers a content type other than JSON with 415 naming it', async () => {
    const receiver = await startOtlpReceiver();

    const plain = await postTraces(receiver, 'text/plain', 'hello');
    const protobuf = await postTraces(receiver, 'application/x-protobuf', Buffer.from([0x0a, 0x00]));

    expect(plain.status).toBe(415);
    expect((JSON.parse(plain.body.toString()) as { message: string }).message).toMatch(/'text\/plain'.*application\/json/);
    expect(protobuf.status).toBe(415);
    expect(receiver.spans()).toEqual([]);
  });

  it('answers malformed JSON and undecodable spans with 400, and keeps receiving', async () => {
    const receiver = await startOtlpReceiver();

    const truncated = await postTraces(receiver, 'application/json', '{"resourceSpans": [');
    const badId = await postTraces(receiver, 'application/json', JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'xyz' }] }] }] }));

    expect(truncated.status).toBe(400);
    expect(truncated.body.toString()).toContain('malformed JSON');
    expect(badId.status).toBe(400);
    expect(badId.body.toString()).toContain('resourceSpans[0].scopeSpans[0].spans[0].traceId must be 32 hex digits');

    const { provider, results } = providerExportingTo(receiver);
    recordRequest(provider);
    await provider.forceFlush();
    expect(results.map((result) => result.code)).toEqual([ExportResultCode.SUCCESS]);
    expect(receiver.spans().map((span) => span.name).sort()).toEqual(['inbound', 'upstream']);
    expect(receiver.requests()).toBe(3);
  });

  it('answers other paths with 404 and other methods with 405', async () => {
    const receiver = await startOtlpReceiver();

    const metrics = await h1Request(receiver.port, { method: 'POST', path: '/v1/metrics', headers: { 'content-type': 'application/json' }, body: '{}' });
    const get = await h1Request(receiver.port, { path: '/v1/traces' });

    expect(metrics.status).toBe(404);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
  });

  it('waitForSpans resolves with the matching spans, and on timeout names what did arrive and what was refused', async () => {
    const receiver = await startOtlpReceiver();
    expect(receiver.requests()).toBe(0);
    const { provider } = providerExportingTo(receiver);
    const waiting = receiver.waitForSpans(1, (span) => span.kind === 'client');

    recordRequest(provider);
    const flushed = provider.forceFlush();

    expect((await waiting).map((span) => span.name)).toEqual(['upstream']);
    await flushed;
    await postTraces(receiver, 'text/plain', 'hello');
    await expect(receiver.waitForSpans(1, (span) => span.name === 'never', 100)).rejects.toThrow(
      /timed out after 100ms.*received 2 span\(s\): .*"upstream" \(client\).*refused 1 request\(s\): 415 content-type 'text\/plain'/,
    );
  });
});
