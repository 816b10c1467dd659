import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend } from '../helpers/backends.js';
import { startOtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver.js';
import { meshSidecar, spiffeId, startCaProcess } from '../helpers/meshProcesses.js';
import { spawnSidecar, type SidecarProcess } from '../helpers/processes.js';

/**
 * Traces across the mesh with real processes: a grpc-js client → its Tandem (outbound) → the
 * server's Tandem (inbound) → a grpc-js server, both Tandems exporting to one in-process OTLP/HTTP
 * receiver. Spans are flushed when the sidecars stop.
 */

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';

interface Mesh {
  /** `traceparent` the server app received, per call. */
  readonly received: string[];
  call(metadata: Record<string, string>, body?: string): Promise<grpc.ServiceError | null>;
  /** Stops both sidecars (flushing their spans) and returns every span received. */
  spans(): Promise<readonly ReceivedSpan[]>;
}

async function mesh(options: { failFirst?: boolean; mtls?: boolean } = {}): Promise<Mesh> {
  const otlp = await startOtlpReceiver();
  const received: string[] = [];
  let calls = 0;
  const app = await startGrpcBackend({
    unary: (call, callback) => {
      received.push(String(call.metadata.get('traceparent')[0]));
      if (options.failFirst === true && calls++ === 0) return callback({ code: grpc.status.UNAVAILABLE, details: 'warming up' });
      callback(null, call.request);
    },
  });
  const tracing = { otlp_endpoint: otlp.endpoint };
  const drain = { wait_before_drain: '0s' };
  const ca = options.mtls === true ? await startCaProcess() : undefined;
  const start = (service: string, config: Record<string, unknown>, services = {}): Promise<SidecarProcess> =>
    ca === undefined ? spawnSidecar(config, services) : meshSidecar(ca, service, config, services);
  const server = await start('echo', { service: { name: 'echo', port: app.port, protocol: 'grpc' }, inbound: { port: 0 }, tracing, drain });
  const client = await start('shop', { upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0 }], tracing, drain }, { echo: [`127.0.0.1:${server.port('inbound')}`] });
  const grpcClient = echoClient(client.port('outbound.echo'));
  return {
    received,
    async call(metadata, body = 'hello') {
      const sent = new grpc.Metadata();
      for (const [key, value] of Object.entries(metadata)) sent.set(key, value);
      return (await callUnary(grpcClient, Buffer.from(body), { metadata: sent })).error;
    },
    async spans() {
      grpcClient.close();
      expect(await client.stop('SIGTERM')).toBe(0);
      expect(await server.stop('SIGTERM')).toBe(0);
      return otlp.spans();
    },
  };
}

const by = (spans: readonly ReceivedSpan[], service: string, kind: ReceivedSpan['kind']): ReceivedSpan[] =>
  spans.filter((span) => span.resource['service.name'] === service && span.kind === kind);

function only(spans: ReceivedSpan[]): ReceivedSpan {
  expect(spans).toHaveLength(1);
  return spans[0] as ReceivedSpan;
}

describe('tracing across the mesh', () => {
  it.each([
    ['W3C traceparent', { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` }],
    ['B3', { b3: `${TRACE_ID}-${CALLER_SPAN}-1` }],
  ])('links caller → Tandem → peer Tandem → server app in one trace from a %s', async (_format, metadata) => {
    const traced = await mesh();
    expect(await traced.call(metadata)).toBeNull();
    const spans = await traced.spans();

    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([TRACE_ID]));
    const outServer = only(by(spans, 'tandem', 'server'));
    const outClient = only(by(spans, 'tandem', 'client'));
    const inServer = only(by(spans, 'tandem-echo', 'server'));
    const inClient = only(by(spans, 'tandem-echo', 'client'));
    expect([outServer.parentSpanId, outClient.parentSpanId, inServer.parentSpanId, inClient.parentSpanId]).toEqual([CALLER_SPAN, outServer.spanId, outClient.spanId, inServer.spanId]);
    expect(traced.received).toEqual([`00-${TRACE_ID}-${inClient.spanId}-01`]);
    for (const span of [outServer, outClient, inServer, inClient]) {
      expect(span.name).toBe('test.Echo/Unary');
      expect(span.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.service': 'test.Echo', 'rpc.method': 'Unary', 'rpc.grpc.status_code': 0, 'network.protocol.version': '2' });
    }
    expect(outClient.attributes['tandem.upstream'] ?? outServer.attributes['tandem.upstream']).toBe('echo');
  });

  it('shows a call retried once as two attempts, the second with its reason, each reaching the peer as its parent', async () => {
    const traced = await mesh({ failFirst: true });
    expect(await traced.call({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` })).toBeNull();
    const spans = await traced.spans();
    const attempts = by(spans, 'tandem', 'client').sort((a, b) => Number(a.attributes['tandem.attempt']) - Number(b.attributes['tandem.attempt']));
    expect(attempts.map((span) => [span.attributes['tandem.attempt'], span.attributes['rpc.grpc.status_code'], span.attributes['tandem.retry_reason']])).toEqual([
      [1, 14, undefined],
      [2, 0, 'unavailable'],
    ]);
    const peerServers = by(spans, 'tandem-echo', 'server');
    expect(peerServers.map((span) => span.parentSpanId).sort()).toEqual(attempts.map((span) => span.spanId).sort());
  });

  it('records nothing for a caller that did not sample, and tells the server app so', async () => {
    const traced = await mesh();
    expect(await traced.call({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-00` })).toBeNull();
    expect(await traced.spans()).toEqual([]);
    expect(traced.received[0]).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
  });

  it("names the caller's SPIFFE ID on the peer's SERVER span over mutual TLS", async () => {
    const traced = await mesh({ mtls: true });
    expect(await traced.call({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` })).toBeNull();
    const spans = await traced.spans();
    expect(only(by(spans, 'tandem-echo', 'server')).attributes['tandem.peer.identity']).toBe(spiffeId('shop'));
    expect(only(by(spans, 'tandem', 'server')).attributes['tandem.peer.identity']).toBeUndefined();
  });
});
