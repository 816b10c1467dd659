import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../../helpers/backends.js';
import { h1Request } from '../../helpers/clients.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../helpers/otlpReceiver.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';

/**
 * Tracing on one in-process sidecar: spans exported to an in-process OTLP/HTTP receiver, trace
 * context read from the request and written on each attempt. (One traced sidecar at a time: the
 * OpenTelemetry SDK registers process-wide; the mesh of several is in the e2e tests.)
 */

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

interface Traced {
  readonly mesh: TestSidecar;
  readonly otlp: OtlpReceiver;
  /** What the backend received, per request. */
  readonly seen: IncomingHttpHeaders[];
}

async function traced(tracing: Record<string, unknown> = {}, answer: (index: number) => number = () => 200): Promise<Traced> {
  const otlp = await startOtlpReceiver();
  const seen: IncomingHttpHeaders[] = [];
  const backend = await startHttp1Backend((req, res) => {
    seen.push(req.headers);
    res.statusCode = answer(seen.length - 1);
    res.end('web');
  });
  const mesh = await startSidecar({ tracing: { otlp_endpoint: otlp.endpoint, ...tracing }, upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
  return { mesh, otlp, seen };
}

/** Spans arrive in batches: stopping the sidecar flushes them. */
async function exported(mesh: TestSidecar, otlp: OtlpReceiver): Promise<readonly ReceivedSpan[]> {
  await mesh.sidecar.stop();
  return otlp.spans();
}

function parentOf(traceparent: unknown): { traceId: string; spanId: string; flags: string } {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(traceparent));
  if (match === null) throw new Error(`not a traceparent: ${String(traceparent)}`);
  return { traceId: match[1] as string, spanId: match[2] as string, flags: match[3] as string };
}

describe('tracing', () => {
  it('makes a SERVER span child of the W3C parent, a CLIENT span for the attempt, and sends the attempt as the upstream parent', async () => {
    const { mesh, otlp, seen } = await traced();
    const answer = await h1Request(mesh.port('outbound.web'), { path: '/a?b=c', headers: { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01`, tracestate: 'vendor=x' } });
    expect(answer.status).toBe(200);
    const spans = await exported(mesh, otlp);

    const server = spans.find((span) => span.kind === 'server') as ReceivedSpan;
    const client = spans.find((span) => span.kind === 'client') as ReceivedSpan;
    expect(spans).toHaveLength(2);
    expect(server).toMatchObject({ traceId: TRACE_ID, parentSpanId: CLIENT_SPAN, name: 'GET' });
    expect(server.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/a', 'network.protocol.version': '1.1', 'http.response.status_code': 200, 'tandem.upstream': 'web', 'tandem.direction': 'outbound' });
    expect(client).toMatchObject({ traceId: TRACE_ID, parentSpanId: server.spanId });
    expect(client.attributes).toMatchObject({ 'tandem.attempt': 1, 'http.response.status_code': 200 });
    expect(client.attributes['tandem.endpoint']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.resource['service.name']).toBe('tandem');

    const upstream = parentOf(seen[0]?.traceparent);
    expect(upstream).toEqual({ traceId: TRACE_ID, spanId: client.spanId, flags: '01' });
    expect(seen[0]?.tracestate).toBe('vendor=x');
    expect(seen[0]?.['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['B3 single header', { b3: `${TRACE_ID}-${CLIENT_SPAN}-1` }],
    ['B3 multiple headers', { 'x-b3-traceid': TRACE_ID, 'x-b3-spanid': CLIENT_SPAN, 'x-b3-sampled': '1' }],
  ])('reads a %s parent the same way, and writes the formats configured (b3multi)', async (_name, headers) => {
    const { mesh, otlp, seen } = await traced({ propagators: ['b3multi'] });
    await h1Request(mesh.port('outbound.web'), { headers: { ...headers, 'x-request-id': 'given-id' } });
    const spans = await exported(mesh, otlp);
    const server = spans.find((span) => span.kind === 'server') as ReceivedSpan;
    const client = spans.find((span) => span.kind === 'client') as ReceivedSpan;
    expect(server).toMatchObject({ traceId: TRACE_ID, parentSpanId: CLIENT_SPAN });
    const sent = seen[0] as IncomingHttpHeaders;
    expect({ trace: sent['x-b3-traceid'], span: sent['x-b3-spanid'], sampled: sent['x-b3-sampled'] }).toEqual({ trace: TRACE_ID, span: client.spanId, sampled: '1' });
    expect(sent.b3).toBeUndefined();
    expect(sent.traceparent).toBeUndefined();
    expect(sent['x-request-id']).toBe('given-id');
  });

  it('records nothing under an unsampled parent, and passes the decision on', async () => {
    const { mesh, otlp, seen } = await traced();
    await h1Request(mesh.port('outbound.web'), { headers: { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-00` } });
    expect(await exported(mesh, otlp)).toEqual([]);
    expect(parentOf(seen[0]?.traceparent)).toMatchObject({ traceId: TRACE_ID, flags: '00' });
  });

  it('starts a trace for a request without one, at the configured ratio (0: none)', async () => {
    const { mesh, otlp, seen } = await traced({ sample_ratio: 0 });
    await h1Request(mesh.port('outbound.web'));
    expect(await exported(mesh, otlp)).toEqual([]);
    expect(parentOf(seen[0]?.traceparent).flags).toBe('00');
  });

  it('gives every attempt of an unsampled request the same unsampled context and request id', async () => {
    const { mesh, otlp, seen } = await traced({}, (index) => (index === 0 ? 503 : 200));
    expect((await h1Request(mesh.port('outbound.web'), { headers: { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-00` } })).status).toBe(200);
    expect(await exported(mesh, otlp)).toEqual([]);
    expect(seen).toHaveLength(2);
    const [first, second] = seen.map((headers) => parentOf(headers.traceparent));
    expect(first).toMatchObject({ traceId: TRACE_ID, flags: '00' });
    expect(second).toEqual(first);
    expect(seen[1]?.['x-request-id']).toBe(seen[0]?.['x-request-id']);
    expect(seen[0]?.['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('shows a retried request as two attempt spans, the second with its reason', async () => {
    const { mesh, otlp, seen } = await traced({}, (index) => (index === 0 ? 503 : 200));
    expect((await h1Request(mesh.port('outbound.web'))).status).toBe(200);
    const spans = await exported(mesh, otlp);
    const attempts = spans.filter((span) => span.kind === 'client').sort((a, b) => Number(a.attributes['tandem.attempt']) - Number(b.attributes['tandem.attempt']));
    expect(attempts.map((span) => [span.attributes['tandem.attempt'], span.attributes['http.response.status_code'], span.attributes['tandem.retry_reason'], span.status.code])).toEqual([
      [1, 503, undefined, 'error'],
      [2, 200, 'gateway-error', 'unset'],
    ]);
    expect(seen.map((headers) => parentOf(headers.traceparent).spanId)).toEqual(attempts.map((span) => span.spanId));
  });
});
