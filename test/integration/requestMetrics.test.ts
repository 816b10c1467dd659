import { request as httpRequest, type ServerResponse } from 'node:http';
import { constants as http2Constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp1Backend, startHttp2Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request, h2Request, h2Session } from '../helpers/clients.js';
import { finished, grpcFrame, grpcRequestHead } from '../helpers/grpcCases.js';
import { scrapeMetrics, type Scrape } from '../helpers/prometheus.js';
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

type Protocol = 'http1' | 'http2' | 'grpc';

/** The three listener kinds, each with the direction and upstream label its requests get. */
const LISTENERS = [
  { listener: 'outbound.svc', direction: 'outbound', upstream: 'svc', sent: 3 },
  { listener: 'outbound.http_proxy', direction: 'outbound', upstream: 'svc', sent: 4 },
  { listener: 'inbound', direction: 'inbound', upstream: 'local_app', sent: 5 },
] as const;

/**
 * A sidecar whose upstream `svc` (on a local port and on the HTTP proxy port) and local app (behind
 * the inbound listener) are both `backend`, spoken to with `protocol`.
 */
function meshFor(protocol: Protocol, backend: { port: number; endpoint: string }): Promise<TestSidecar> {
  return startSidecar(
    {
      service: { name: 'app', port: backend.port, protocol },
      inbound: { port: 0 },
      outbound: { http_proxy_port: 0 },
      upstreams: [{ name: 'svc', protocol, local_port: 0 }],
    },
    { svc: [backend.endpoint] },
  );
}

/** Which listener a request arrived on and which upstream took it: the labels every request metric has. */
interface Route {
  readonly direction: string;
  readonly listener: string;
  readonly upstream: string;
}

/** The `tandem_requests_total` series of requests on `route` that ended with this status. */
function requestLabels(route: Route, statusClass: string, grpcStatus = ''): Record<string, string> {
  return { direction: route.direction, listener: route.listener, upstream: route.upstream, status_class: statusClass, grpc_status: grpcStatus };
}

function activeOn(metrics: Scrape, kind: Route): number | undefined {
  return metrics.value('tandem_requests_active', { direction: kind.direction, listener: kind.listener, upstream: kind.upstream });
}

/** One successful request per protocol, naming `authority` (what the HTTP proxy port routes by). */
const SUCCESSFUL_REQUEST: Record<Protocol, (port: number, authority: string) => Promise<void>> = {
  http1: async (port, authority) => {
    const response = await h1Request(port, { headers: { host: authority } });
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('ok');
  },
  http2: async (port, authority) => {
    const response = await h2Request(h2Session(port), { ':authority': authority });
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('ok');
  },
  grpc: async (port, authority) => {
    const { error, reply } = await callUnary(echoClient(port, { 'grpc.default_authority': authority }), Buffer.from('ok'));
    expect(error).toBeNull();
    expect(reply?.toString()).toBe('ok');
  },
};

/** A backend answering every request `ok`, counting them. */
async function okBackend(protocol: Protocol): Promise<{ port: number; endpoint: string; requests: () => number }> {
  let requests = 0;
  if (protocol === 'http1') {
    const backend = await startHttp1Backend((_req, res) => {
      requests++;
      res.end('ok');
    });
    return { ...backend, requests: () => requests };
  }
  if (protocol === 'http2') {
    const backend = await startHttp2Backend((stream) => {
      requests++;
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    return { ...backend, requests: () => requests };
  }
  const backend = await startGrpcBackend({
    unary: (call, callback) => {
      requests++;
      callback(null, call.request);
    },
  });
  return { ...backend, requests: () => requests };
}

describe('request metrics at the edge', () => {
  it('counts a route miss on the HTTP proxy port with upstream "" and a request to an upstream without endpoints, for HTTP and gRPC', async () => {
    const mesh = await startSidecar({ outbound: { http_proxy_port: 0 }, upstreams: [{ name: 'echo', protocol: 'grpc' }] }, { echo: [] });
    const proxy = mesh.port('outbound.http_proxy');

    const missed = await h1Request(proxy, { headers: { host: 'nope' } });
    expect(missed.status).toBe(404);
    expect(missed.headers['x-tandem-error']).toBe('TANDEM_NO_ROUTE');
    const missedCall = await callUnary(echoClient(proxy, { 'grpc.default_authority': 'nope' }), Buffer.from('x'));
    expect(missedCall.error?.code).toBe(grpc.status.UNIMPLEMENTED);
    const empty = await h1Request(proxy, { headers: { host: 'echo' } });
    expect(empty.status).toBe(503);
    expect(empty.headers['x-tandem-error']).toBe('TANDEM_NO_HEALTHY_ENDPOINT');
    const emptyCall = await callUnary(echoClient(proxy, { 'grpc.default_authority': 'echo' }), Buffer.from('x'));
    expect(emptyCall.error?.code).toBe(grpc.status.UNAVAILABLE);

    const metrics = await scrapeMetrics(mesh.port('admin'));
    const miss = { direction: 'outbound', listener: 'outbound.http_proxy', upstream: '' };
    const echo = { ...miss, upstream: 'echo' };
    expect(metrics.value('tandem_requests_total', requestLabels(miss, '4xx'))).toBe(1);
    expect(metrics.value('tandem_requests_total', requestLabels(miss, '2xx', '12'))).toBe(1);
    expect(metrics.value('tandem_requests_total', requestLabels(echo, '5xx'))).toBe(1);
    expect(metrics.value('tandem_requests_total', requestLabels(echo, '2xx', '14'))).toBe(1);
    expect(metrics.sum('tandem_requests_total')).toBe(4);
    expect(metrics.value('tandem_request_duration_seconds_count', { ...miss, status_class: '4xx' })).toBe(1);
    expect(metrics.value('tandem_request_duration_seconds_count', { ...miss, status_class: '2xx' })).toBe(1);
    expect(metrics.value('tandem_request_duration_seconds_count', { ...echo, status_class: '5xx' })).toBe(1);
    expect(metrics.value('tandem_request_duration_seconds_count', { ...echo, status_class: '2xx' })).toBe(1);
    expect(activeOn(metrics, miss)).toBe(0);
    expect(activeOn(metrics, echo)).toBe(0);
  });

  describe.each(['http1', 'http2', 'grpc'] as const)('%s', (protocol) => {
    it('counts exactly the requests sent on an upstream local port, the HTTP proxy port and the inbound listener, with a matching histogram, and nothing left active', async () => {
      const backend = await okBackend(protocol);
      const mesh = await meshFor(protocol, backend);
      for (const kind of LISTENERS) {
        for (let i = 0; i < kind.sent; i++) await SUCCESSFUL_REQUEST[protocol](mesh.port(kind.listener), 'svc');
      }
      expect(backend.requests()).toBe(3 + 4 + 5);

      const metrics = await scrapeMetrics(mesh.port('admin'));
      const grpcStatus = protocol === 'grpc' ? '0' : '';
      for (const kind of LISTENERS) {
        expect(metrics.value('tandem_requests_total', requestLabels(kind, '2xx', grpcStatus)), kind.listener).toBe(kind.sent);
        expect(metrics.sum('tandem_requests_total', { listener: kind.listener }), kind.listener).toBe(kind.sent);
        const histogram = { direction: kind.direction, listener: kind.listener, upstream: kind.upstream, status_class: '2xx' };
        expect(metrics.value('tandem_request_duration_seconds_count', histogram), kind.listener).toBe(kind.sent);
        expect(metrics.value('tandem_request_duration_seconds_bucket', { ...histogram, le: '+Inf' }), kind.listener).toBe(kind.sent);
        expect(metrics.value('tandem_request_duration_seconds_sum', histogram), kind.listener).toBeGreaterThan(0);
        expect(activeOn(metrics, kind), kind.listener).toBe(0);
      }
      expect(metrics.sum('tandem_requests_total')).toBe(3 + 4 + 5);
    });
  });

  it('shows a request held by the backend as tandem_requests_active 1 on each listener kind, and 0 once it is answered', async () => {
    const held: ServerResponse[] = [];
    const backend = await startHttp1Backend((_req, res) => held.push(res));
    const mesh = await meshFor('http1', backend);
    const answers = LISTENERS.map((kind) => h1Request(mesh.port(kind.listener), { headers: { host: 'svc' } }));
    await waitFor('the backend to hold one request per listener', () => held.length === LISTENERS.length);

    let metrics = await scrapeMetrics(mesh.port('admin'));
    for (const kind of LISTENERS) expect(activeOn(metrics, kind), kind.listener).toBe(1);
    expect(metrics.sum('tandem_requests_total')).toBe(0);

    for (const res of held) res.end('late');
    for (const answer of await Promise.all(answers)) expect(answer.body.toString()).toBe('late');
    metrics = await scrapeMetrics(mesh.port('admin'));
    for (const kind of LISTENERS) {
      expect(activeOn(metrics, kind), kind.listener).toBe(0);
      expect(metrics.value('tandem_requests_total', requestLabels(kind, '2xx')), kind.listener).toBe(1);
    }
  });

  it('takes the gRPC status from the trailers, or from a trailers-only head, with status class 2xx', async () => {
    const backend = await startGrpcBackend({
      unary: (call, callback) =>
        call.request.toString() === 'deny' ? callback({ code: grpc.status.PERMISSION_DENIED, details: 'no' }) : callback(null, call.request),
      serverStream: (call) => {
        call.write(Buffer.from('one'));
        call.emit('error', { code: grpc.status.NOT_FOUND, details: 'gone' });
      },
    });
    const mesh = await startSidecar({ upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0 }] }, { echo: [backend.endpoint] });
    const port = mesh.port('outbound.echo');
    const client = echoClient(port);

    expect((await callUnary(client, Buffer.from('hi'))).error).toBeNull();
    expect((await callUnary(client, Buffer.from('deny'))).error?.code).toBe(grpc.status.PERMISSION_DENIED);
    const stream = await finished(client.serverStream(Buffer.from('go')));
    expect(stream.messages.map(String)).toEqual(['one']);
    expect(stream.status.code).toBe(grpc.status.NOT_FOUND);
    // The same calls made by hand show which frame carried each status.
    const trailersOnly = await h2Request(h2Session(port), grpcRequestHead('Unary'), grpcFrame('deny'));
    expect(trailersOnly.headersEndedStream).toBe(true);
    expect(trailersOnly.headers['grpc-status']).toBe('7');
    const inTrailers = await h2Request(h2Session(port), grpcRequestHead('ServerStream'), grpcFrame('go'));
    expect(inTrailers.headersEndedStream).toBe(false);
    expect(inTrailers.headers['grpc-status']).toBeUndefined();
    expect(inTrailers.trailers?.['grpc-status']).toBe('5');

    const metrics = await scrapeMetrics(mesh.port('admin'));
    const echo = { direction: 'outbound', listener: 'outbound.echo', upstream: 'echo' };
    expect(metrics.value('tandem_requests_total', requestLabels(echo, '2xx', '0'))).toBe(1);
    expect(metrics.value('tandem_requests_total', requestLabels(echo, '2xx', '7'))).toBe(2);
    expect(metrics.value('tandem_requests_total', requestLabels(echo, '2xx', '5'))).toBe(2);
    expect(metrics.sum('tandem_requests_total')).toBe(5);
    expect(metrics.value('tandem_request_duration_seconds_count', { ...echo, status_class: '2xx' })).toBe(5);
  });

  it('counts an HTTP/1.1 response whose body is cut mid-way once, with the status of its head', async () => {
    const sockets: Socket[] = [];
    const backend = await startHttp1Backend((req, res) => {
      sockets.push(req.socket);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    const mesh = await startSidecar({ upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
    const outcome = await new Promise<{ status: number; received: string; error: string | undefined }>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: mesh.port('outbound.web'), agent: false }, (res) => {
        let received = '';
        res.on('data', (chunk: Buffer) => {
          received += chunk.toString();
          for (const socket of sockets) socket.destroy(); // the backend dies mid-body
        });
        res.on('error', (error) => resolve({ status: res.statusCode ?? 0, received, error: error.message }));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, received, error: undefined }));
      });
      req.on('error', (error) => resolve({ status: 0, received: '', error: error.message }));
      req.end();
    });
    expect(outcome).toEqual({ status: 200, received: 'partial', error: 'aborted' });

    const metrics = await scrapeMetrics(mesh.port('admin'));
    const web = { direction: 'outbound', listener: 'outbound.web', upstream: 'web' };
    expect(metrics.value('tandem_requests_total', requestLabels(web, '2xx'))).toBe(1);
    expect(metrics.sum('tandem_requests_total')).toBe(1);
    expect(metrics.value('tandem_request_duration_seconds_count', { ...web, status_class: '2xx' })).toBe(1);
    expect(activeOn(metrics, web)).toBe(0);
  });

  it('counts a gRPC call whose upstream connection dies mid-body once, with the UNAVAILABLE the client gets', async () => {
    const backend = await startHttp2Backend((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(grpcFrame('one'));
    });
    const mesh = await startSidecar({ upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0 }] }, { echo: [backend.endpoint] });
    const call = echoClient(mesh.port('outbound.echo')).serverStream(Buffer.from('go'));
    call.once('data', () => {
      for (const session of backend.openSessions()) session.destroy(); // the backend dies mid-body
    });
    const outcome = await finished(call);
    expect(outcome.messages.map(String)).toEqual(['one']);
    expect(outcome.status.code).toBe(grpc.status.UNAVAILABLE);

    const metrics = await scrapeMetrics(mesh.port('admin'));
    const echo = { direction: 'outbound', listener: 'outbound.echo', upstream: 'echo' };
    expect(metrics.value('tandem_requests_total', requestLabels(echo, '2xx', '14'))).toBe(1);
    expect(metrics.sum('tandem_requests_total')).toBe(1);
    expect(activeOn(metrics, echo)).toBe(0);
  });

  // Found by this suite: a reset is passed to the client as its RST_STREAM code, which the client
  // reads as its own status (ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED), while the metric counts UNAVAILABLE.
  it('counts a gRPC call the upstream resets mid-body with the status the client derives from the reset', async () => {
    const streams: ServerHttp2Stream[] = [];
    const backend = await startHttp2Backend((stream) => {
      streams.push(stream);
      // Waiting for trailers keeps Node from ending the stream (END_STREAM) before the reset is sent.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.write(grpcFrame('one'));
    });
    const mesh = await startSidecar({ upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0 }] }, { echo: [backend.endpoint] });
    const call = echoClient(mesh.port('outbound.echo')).serverStream(Buffer.from('go'));
    call.once('data', () => {
      for (const stream of streams) stream.close(http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
    });
    const outcome = await finished(call);
    expect(outcome.messages.map(String)).toEqual(['one']);
    expect(outcome.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    const metrics = await scrapeMetrics(mesh.port('admin'));
    const echo = { direction: 'outbound', listener: 'outbound.echo', upstream: 'echo' };
    expect(metrics.series('tandem_requests_total').map((sample) => [sample.labels['grpc_status'], sample.value])).toEqual([
      [String(grpc.status.RESOURCE_EXHAUSTED), 1],
    ]);
    expect(activeOn(metrics, echo)).toBe(0);
  });

  // Found by this suite: the downstream codecs answer these themselves, before the edge stage.
  it('counts requests the listener refuses before routing them (TANDEM_BAD_REQUEST) as 4xx', async () => {
    const mesh = await startSidecar({ outbound: { http_proxy_port: 0 }, upstreams: [{ name: 'web' }] }, { web: [] });
    const proxy = mesh.port('outbound.http_proxy');
    const absoluteForm = await h1Request(proxy, { path: 'ftp://web/file' });
    expect(absoluteForm.status).toBe(400);
    expect(absoluteForm.headers['x-tandem-error']).toBe('TANDEM_BAD_REQUEST');
    const connect = await new Promise<IncomingHttpHeaders>((resolve) => {
      const stream = h2Session(proxy).request({ ':method': 'CONNECT', ':authority': 'web:443' });
      stream.on('response', resolve);
      stream.on('error', () => undefined);
    });
    expect(connect[':status']).toBe(400);
    expect(connect['x-tandem-error']).toBe('TANDEM_BAD_REQUEST');

    const metrics = await scrapeMetrics(mesh.port('admin'));
    expect(metrics.sum('tandem_requests_total', { listener: 'outbound.http_proxy', status_class: '4xx' })).toBe(2);
    expect(metrics.sum('tandem_requests_total')).toBe(2);
  });

  // Found by this suite: the metric takes the upstream's status, the client gets Tandem's 502.
  it('counts a response the downstream protocol cannot carry with the 502 the client gets', async () => {
    const backend = createTcpServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok')));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => backend.close(resolve)));
    const mesh = await startSidecar({ upstreams: [{ name: 'web', local_port: 0 }] }, { web: [`127.0.0.1:${(backend.address() as AddressInfo).port}`] });
    const response = await h2Request(h2Session(mesh.port('outbound.web')), {});
    expect(response.status).toBe(502);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_UPSTREAM_PROTOCOL_ERROR');

    const metrics = await scrapeMetrics(mesh.port('admin'));
    expect(metrics.series('tandem_requests_total').map((sample) => [sample.labels['status_class'], sample.value])).toEqual([['5xx', 1]]);
  });
});
