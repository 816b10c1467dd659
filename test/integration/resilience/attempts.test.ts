import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp1Backend } from '../../helpers/backends.js';
import { h1Request } from '../../helpers/clients.js';
import { startSidecarFor } from '../../helpers/sidecar.js';

describe('retries as the upstream sees them', () => {
  it('numbers each gRPC attempt with x-tandem-attempt and grpc-previous-rpc-attempts, and retries a trailers-only UNAVAILABLE', async () => {
    const seen: Array<{ attempt: unknown; previous: unknown }> = [];
    const backend = await startGrpcBackend({
      unary: (call, callback) => {
        seen.push({ attempt: call.metadata.get('x-tandem-attempt')[0], previous: call.metadata.get('grpc-previous-rpc-attempts')[0] });
        if (seen.length < 3) callback({ code: grpc.status.UNAVAILABLE, details: 'not yet' });
        else callback(null, Buffer.from('third time'));
      },
    });
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const { error, reply } = await callUnary(echoClient(mesh.port('outbound.echo')), Buffer.from('x'));
    expect(error).toBeNull();
    expect(reply?.toString()).toBe('third time');
    expect(seen).toEqual([
      { attempt: '1', previous: undefined },
      { attempt: '2', previous: '1' },
      { attempt: '3', previous: '2' },
    ]);
  });

  it('retries a GET on 503 but sends a POST once, unless the upstream opts in with non_idempotent', async () => {
    const arrivals: string[] = [];
    const backend = await startHttp1Backend((req, res) => {
      arrivals.push(`${req.method ?? ''} ${String(req.headers['x-tandem-attempt'])}`);
      req.resume();
      req.on('end', () => res.writeHead(503).end('busy'));
    });
    const strict = await startSidecarFor('web', 'http1', [backend.endpoint]);
    expect((await h1Request(strict.port('outbound.web'), { path: '/get' })).status).toBe(503);
    expect((await h1Request(strict.port('outbound.web'), { method: 'POST', path: '/post', body: 'order', headers: { 'content-length': '5' } })).status).toBe(503);
    expect(arrivals).toEqual(['GET 1', 'GET 2', 'GET 3', 'POST 1']);

    arrivals.length = 0;
    const lenient = await startSidecarFor('web', 'http1', [backend.endpoint], { retry: { non_idempotent: true } });
    expect((await h1Request(lenient.port('outbound.web'), { method: 'POST', path: '/post', body: 'order', headers: { 'content-length': '5' } })).status).toBe(503);
    expect(arrivals).toEqual(['POST 1', 'POST 2', 'POST 3']);
  });

  it('waits as long as Retry-After asks before retrying', async () => {
    const arrivedAt: number[] = [];
    const backend = await startHttp1Backend((_req, res) => {
      arrivedAt.push(performance.now());
      if (arrivedAt.length === 1) res.writeHead(503, { 'retry-after': '1' }).end();
      else res.end('ok');
    });
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint]);
    const response = await h1Request(mesh.port('outbound.web'));
    expect(response.status).toBe(200);
    expect(arrivedAt).toHaveLength(2);
    // Timers may fire a millisecond early against performance.now().
    expect((arrivedAt[1] as number) - (arrivedAt[0] as number)).toBeGreaterThanOrEqual(995);
    expect((arrivedAt[1] as number) - (arrivedAt[0] as number)).toBeLessThan(1_500);
  });
});
