import { request as httpRequest, type IncomingMessage } from 'node:http';
import { constants, type ClientHttp2Stream, type ServerHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startHttp1Backend, startHttp2Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request, h2Request, h2Session } from '../helpers/clients.js';
import { finished, grpcFrame, grpcRequestHead, grpcThroughTandem } from '../helpers/grpcCases.js';
import { startSidecarFor } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = constants;

/** The longest a cancellation may take to reach the upstream, from the client's cancel call. */
const CANCEL_BOUND_MS = 50;

/** A raw HTTP/2 backend whose streams are kept for the test to drive; records how and when each closed. */
async function heldStreams(onStream: (stream: ServerHttp2Stream) => void = () => undefined) {
  const streams: ServerHttp2Stream[] = [];
  const closes: Array<{ at: number; rstCode: number | undefined }> = [];
  const backend = await startHttp2Backend((stream) => {
    streams.push(stream);
    stream.on('close', () => closes.push({ at: performance.now(), rstCode: stream.rstCode }));
    onStream(stream);
  });
  return { backend, streams, closes };
}

/**
 * Responds with a gRPC head and one message, then holds the stream open. Trailers are announced, as
 * a gRPC server does, so a later `close(code)` resets the stream instead of first ending it cleanly.
 */
function respondAndHold(stream: ServerHttp2Stream): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.write(grpcFrame('first'));
}

function firstData(stream: ClientHttp2Stream | IncomingMessage | grpc.ClientReadableStream<Buffer>): Promise<void> {
  return new Promise((resolve) => stream.once('data', () => resolve()));
}

/**
 * Cancels twice on the same path and returns the second cancellation's latency. The first one in a
 * fresh test worker runs grpc-js, node:http2 and Tandem code for the first time (V8 compiles
 * lazily): measured at 10–125 ms on a loaded 2-core machine, nearly all of it in the client's own
 * cancel and in node:http2 receiving its first RST_STREAM, against ~1.5 ms once warm. The bound is
 * about how fast Tandem propagates a cancellation, so the warm-up is checked but not timed.
 */
async function secondCancelLatency(cancelOnce: () => Promise<number>): Promise<number> {
  await cancelOnce();
  return cancelOnce();
}

describe('cancellation from the downstream', () => {
  it('cancels the upstream gRPC call within 50 ms when a grpc-js client cancels mid server-stream', async () => {
    const cancelledAt: number[] = [];
    const { client } = await grpcThroughTandem({
      serverStream: (call) => {
        call.on('cancelled', () => cancelledAt.push(performance.now()));
        call.write(Buffer.from('first'));
      },
    });
    const latency = await secondCancelLatency(async () => {
      const call = client.serverStream(Buffer.from('go'));
      const outcome = finished(call);
      await firstData(call);
      const seen = cancelledAt.length;
      const cancelAt = performance.now();
      call.cancel();
      await waitFor('the upstream call to see the cancellation', () => cancelledAt.length > seen);
      expect((await outcome).status.code).toBe(grpc.status.CANCELLED);
      return (cancelledAt[seen] as number) - cancelAt;
    });
    expect(latency).toBeLessThan(CANCEL_BOUND_MS);
  });

  it('resets the upstream stream with CANCEL within 50 ms when a grpc-js client cancels (raw HTTP/2 backend)', async () => {
    const { backend, closes } = await heldStreams(respondAndHold);
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const client = echoClient(mesh.port('outbound.echo'));
    const latency = await secondCancelLatency(async () => {
      const call = client.serverStream(Buffer.from('go'));
      call.on('error', () => undefined);
      await firstData(call);
      const seen = closes.length;
      const cancelAt = performance.now();
      call.cancel();
      await waitFor('the upstream stream to close', () => closes.length > seen);
      expect(closes[seen]?.rstCode).toBe(NGHTTP2_CANCEL);
      return (closes[seen]?.at ?? Infinity) - cancelAt;
    });
    expect(latency).toBeLessThan(CANCEL_BOUND_MS);
  });

  it.each([
    ['before the response head', false],
    ['in the middle of the body', true],
  ])('resets the upstream stream with CANCEL within 50 ms when an HTTP/2 client resets %s', async (_when, responded) => {
    const { backend, streams, closes } = await heldStreams(responded ? respondAndHold : undefined);
    const mesh = await startSidecarFor('echo', 'http2', [backend.endpoint]);
    const session = h2Session(mesh.port('outbound.echo'));
    const latency = await secondCancelLatency(async () => {
      const seen = closes.length;
      const stream = session.request({ ':method': 'POST', ':path': '/hold' });
      stream.on('error', () => undefined);
      stream.write('request body, still open');
      if (responded) await firstData(stream);
      else await waitFor('the request to reach the backend', () => streams.length > seen);
      const cancelAt = performance.now();
      stream.close(NGHTTP2_CANCEL);
      await waitFor('the upstream stream to close', () => closes.length > seen);
      expect(closes[seen]?.rstCode).toBe(NGHTTP2_CANCEL);
      return (closes[seen]?.at ?? Infinity) - cancelAt;
    });
    expect(latency).toBeLessThan(CANCEL_BOUND_MS);
  });

  it('aborts the HTTP/1.1 upstream request when an HTTP/1.1 client disconnects mid-response', async () => {
    const upstream: Array<{ finished: boolean }> = [];
    const backend = await startHttp1Backend((_req, res) => {
      res.on('close', () => upstream.push({ finished: res.writableFinished }));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint]);
    const response = await h1Response(mesh.port('outbound.web'));
    await firstData(response);
    response.destroy();
    await waitFor('the upstream response to close', () => upstream.length === 1);
    expect(upstream[0]?.finished).toBe(false);
  });

  it('resets the HTTP/2 upstream stream with CANCEL when an HTTP/1.1 client disconnects mid-response', async () => {
    const { backend, closes } = await heldStreams(respondAndHold);
    const mesh = await startSidecarFor('echo', 'http2', [backend.endpoint]);
    const response = await h1Response(mesh.port('outbound.echo'));
    await firstData(response);
    response.destroy();
    await waitFor('the upstream stream to close', () => closes.length === 1);
    expect(closes[0]?.rstCode).toBe(NGHTTP2_CANCEL);
  });
});

describe('resets from the upstream', () => {
  const resetBeforeHead = (stream: ServerHttp2Stream): void => stream.close(NGHTTP2_ENHANCE_YOUR_CALM);

  it('passes an upstream RST_STREAM(ENHANCE_YOUR_CALM) before the head through to an HTTP/2 client', async () => {
    const { backend } = await heldStreams(resetBeforeHead);
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const response = await h2Request(h2Session(mesh.port('outbound.echo')), grpcRequestHead('Unary'), grpcFrame('x'));
    expect(response.status).toBe(0);
    expect(response.rstCode).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it('gives a grpc-js client RESOURCE_EXHAUSTED for an upstream RST_STREAM(ENHANCE_YOUR_CALM) before the head', async () => {
    const { backend } = await heldStreams(resetBeforeHead);
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const { error } = await callUnary(echoClient(mesh.port('outbound.echo')), Buffer.from('x'));
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('passes an upstream RST_STREAM(ENHANCE_YOUR_CALM) after the head and some data through to an HTTP/2 client', async () => {
    const { backend, streams } = await heldStreams(respondAndHold);
    const mesh = await startSidecarFor('echo', 'http2', [backend.endpoint]);
    const stream = h2Session(mesh.port('outbound.echo')).request({ ':path': '/partial' });
    stream.on('error', () => undefined);
    let status = 0;
    stream.on('response', (head) => (status = Number(head[':status'])));
    await firstData(stream);
    streams[0]?.close(NGHTTP2_ENHANCE_YOUR_CALM);
    await new Promise((resolve) => stream.once('close', resolve));
    expect(status).toBe(200);
    expect(stream.rstCode).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it('answers an HTTP/1.1 client 502 TANDEM_UPSTREAM_RESET when the HTTP/2 upstream resets before the head', async () => {
    const { backend } = await heldStreams(resetBeforeHead);
    const mesh = await startSidecarFor('echo', 'http2', [backend.endpoint]);
    const response = await h1Request(mesh.port('outbound.echo'));
    expect(response.status).toBe(502);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_UPSTREAM_RESET');
    expect(response.body.toString()).toContain('ENHANCE_YOUR_CALM');
  });

  it('truncates the HTTP/1.1 response when the HTTP/2 upstream resets after the head', async () => {
    const { backend, streams } = await heldStreams(respondAndHold);
    const mesh = await startSidecarFor('echo', 'http2', [backend.endpoint]);
    const response = await h1Response(mesh.port('outbound.echo'));
    let ended = false;
    let failed = false;
    response.on('end', () => (ended = true));
    response.on('error', () => (failed = true));
    await firstData(response);
    streams[0]?.close(NGHTTP2_ENHANCE_YOUR_CALM);
    await new Promise((resolve) => response.once('close', resolve));
    expect(response.statusCode).toBe(200);
    expect(response.complete).toBe(false);
    expect(ended).toBe(false);
    expect(failed).toBe(true);
  });
});

/** Starts a GET on a fresh HTTP/1.1 connection and resolves with the response head. */
function h1Response(port: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false }, resolve);
    req.on('error', reject);
    onCleanup(() => req.destroy());
    req.end();
  });
}
