import { createHash, randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, startGrpcBackend, startHttp2Backend } from '../helpers/backends.js';
import { h2Request, h2Session } from '../helpers/clients.js';
import { binaryValues, finished, grpcFrame, grpcRequestHead, grpcThroughTandem, grpcTimeoutMs } from '../helpers/grpcCases.js';
import { startSidecarFor } from '../helpers/sidecar.js';

const text = (messages: Buffer[]): string[] => messages.map((message) => message.toString());

describe('gRPC through Tandem', () => {
  it('proxies a unary call', async () => {
    const { client } = await grpcThroughTandem({
      unary: (call, callback) => callback(null, Buffer.concat([Buffer.from('echo:'), call.request])),
    });
    const { error, reply } = await callUnary(client, Buffer.from('ping'));
    expect(error).toBeNull();
    expect(reply?.toString()).toBe('echo:ping');
  });

  it('proxies a client-streaming call, every message in order', async () => {
    const { client } = await grpcThroughTandem({
      clientStream: (call, callback) => {
        const seen: string[] = [];
        call.on('data', (message: Buffer) => seen.push(message.toString()));
        call.on('end', () => callback(null, Buffer.from(seen.join('|'))));
      },
    });
    const reply = await new Promise<Buffer | undefined>((resolve, reject) => {
      const call = client.clientStream(new grpc.Metadata(), {}, (error, response) => (error ? reject(error) : resolve(response)));
      for (const word of ['a', 'bb', 'ccc']) call.write(Buffer.from(word));
      call.end();
    });
    expect(reply?.toString()).toBe('a|bb|ccc');
  });

  it('proxies a server-streaming call, every message in order, then OK', async () => {
    const { client } = await grpcThroughTandem({
      serverStream: (call) => {
        const count = Number(call.request.toString());
        for (let i = 0; i < count; i++) call.write(Buffer.from(`m${i}`));
        call.end();
      },
    });
    const outcome = await finished(client.serverStream(Buffer.from('5')));
    expect(outcome.error).toBeUndefined();
    expect(outcome.status.code).toBe(grpc.status.OK);
    expect(text(outcome.messages)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('carries a bidi stream where the client half-closes first and the server finishes after', async () => {
    const { client } = await grpcThroughTandem({
      bidi: (call) => {
        call.on('data', (message: Buffer) => call.write(Buffer.from(`echo ${message.toString()}`)));
        call.on('end', () => {
          call.write(Buffer.from('after your end'));
          call.end();
        });
      },
    });
    const call = client.bidi();
    const outcome = finished(call);
    call.write(Buffer.from('one'));
    call.write(Buffer.from('two'));
    call.end();
    const { error, status, messages } = await outcome;
    expect(error).toBeUndefined();
    expect(status.code).toBe(grpc.status.OK);
    expect(text(messages)).toEqual(['echo one', 'echo two', 'after your end']);
  });

  it('carries a bidi stream where the server finishes while the client is still sending, and the client ends later', async () => {
    const serverSaw: string[] = [];
    const { client } = await grpcThroughTandem({
      bidi: (call) => {
        call.once('data', (message: Buffer) => {
          serverSaw.push(message.toString());
          call.write(Buffer.from('enough'));
          call.end();
        });
      },
    });
    const call = client.bidi();
    const outcome = finished(call);
    call.write(Buffer.from('first'));
    await new Promise((resolve) => call.once('data', resolve));
    call.write(Buffer.from('second'));
    call.write(Buffer.from('third'));
    call.end();
    const { error, status, messages } = await outcome;
    expect(error).toBeUndefined();
    expect(status.code).toBe(grpc.status.OK);
    expect(text(messages)).toEqual(['enough']);
    expect(serverSaw).toEqual(['first']);
    const after = await callUnary(client, Buffer.from('still usable'));
    expect(after.error?.code).toBe(grpc.status.UNIMPLEMENTED); // the backend has no unary handler: the channel still works
  });

  it('delivers a 10,000-message pipelined bidi stream complete and in order', async () => {
    const { client } = await grpcThroughTandem({
      bidi: (call) => {
        call.on('data', (message: Buffer) => call.write(message));
        call.on('end', () => call.end());
      },
    });
    const count = 10_000;
    const call = client.bidi();
    const outcome = finished(call);
    for (let i = 0; i < count; i++) {
      const message = Buffer.alloc(4);
      message.writeUInt32BE(i);
      call.write(message);
    }
    call.end();
    const { error, messages } = await outcome;
    expect(error).toBeUndefined();
    expect(messages).toHaveLength(count);
    const outOfOrder = messages.findIndex((message, i) => message.readUInt32BE(0) !== i);
    expect(outOfOrder).toBe(-1);
  });

  it('passes ASCII and -bin metadata both ways: request metadata, response headers and trailers', async () => {
    const binary = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]);
    let received: grpc.Metadata | undefined;
    const { client } = await grpcThroughTandem({
      unary: (call, callback) => {
        received = call.metadata;
        const headers = new grpc.Metadata();
        headers.set('x-head', 'head value');
        headers.set('x-head-bin', Buffer.from([0xff, 0x00, 0x10]));
        call.sendMetadata(headers);
        const trailers = new grpc.Metadata();
        trailers.set('x-tail', 'tail value');
        trailers.set('x-tail-bin', Buffer.from([0x00, 0xaa, 0xff]));
        callback(null, Buffer.from('ok'), trailers);
      },
    });
    const metadata = new grpc.Metadata();
    metadata.set('x-request', 'hello world');
    metadata.set('x-request-bin', binary);
    const result = await callUnary(client, Buffer.from('meta'), { metadata });
    expect(result.error).toBeNull();
    expect(received?.get('x-request')).toEqual(['hello world']);
    expect(binaryValues(received, 'x-request-bin')).toEqual([binary]);
    expect(result.headers?.get('x-head')).toEqual(['head value']);
    expect(binaryValues(result.headers, 'x-head-bin')).toEqual([Buffer.from([0xff, 0x00, 0x10])]);
    expect(result.trailers?.get('x-tail')).toEqual(['tail value']);
    expect(binaryValues(result.trailers, 'x-tail-bin')).toEqual([Buffer.from([0x00, 0xaa, 0xff])]);
  });

  it.each([
    [grpc.status.NOT_FOUND, 'nope'],
    [grpc.status.PERMISSION_DENIED, 'non, merci — ☃ 100% sure'],
    [grpc.status.UNAVAILABLE, 'backend draining'],
    [grpc.status.RESOURCE_EXHAUSTED, 'quota'],
  ])('passes status %i with its message through exactly', async (code, details) => {
    const { client } = await grpcThroughTandem({
      unary: (_call, callback) => {
        const metadata = new grpc.Metadata();
        metadata.set('x-why', 'because');
        callback({ code, details, metadata });
      },
    });
    const { error, trailers } = await callUnary(client, Buffer.from('x'));
    expect(error?.code).toBe(code);
    expect(error?.details).toBe(details);
    expect(trailers?.get('x-why')).toEqual(['because']);
    expect(trailers?.get('x-tandem-error')).toEqual([]);
  });

  it('passes a non-OK status that follows streamed messages through exactly', async () => {
    const { client } = await grpcThroughTandem({
      serverStream: (call) => {
        call.write(Buffer.from('one'));
        call.write(Buffer.from('two'));
        call.emit('error', { code: grpc.status.ABORTED, details: 'gave up midway' });
      },
    });
    const { messages, status } = await finished(client.serverStream(Buffer.from('go')));
    expect(text(messages)).toEqual(['one', 'two']);
    expect(status.code).toBe(grpc.status.ABORTED);
    expect(status.details).toBe('gave up midway');
  });

  it('passes a trailers-only response through as a single HEADERS frame with END_STREAM', async () => {
    const backend = await startGrpcBackend({ unary: (_call, callback) => callback({ code: grpc.status.NOT_FOUND, details: 'nope' }) });
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const viaTandem = await h2Request(h2Session(mesh.port('outbound.echo')), grpcRequestHead('Unary'), grpcFrame('x'));
    expect(viaTandem.status).toBe(200);
    expect(viaTandem.headersEndedStream).toBe(true);
    expect(viaTandem.headers['grpc-status']).toBe('5');
    expect(viaTandem.headers['grpc-message']).toBe('nope');
    expect(viaTandem.trailers).toBeUndefined();
    expect(viaTandem.body).toHaveLength(0);
    expect(viaTandem.rstCode).toBe(0);
    const direct = await h2Request(h2Session(backend.port), grpcRequestHead('Unary'), grpcFrame('x'));
    const withoutDate = (headers: Record<string, unknown>): Record<string, unknown> => ({ ...headers, date: undefined });
    expect(withoutDate(viaTandem.headers)).toEqual(withoutDate(direct.headers));
  });

  it('forwards grpc-timeout as the time remaining, never more than the client gave (grpc-js server)', async () => {
    let remainingMs = Number.NaN;
    const { client } = await grpcThroughTandem({
      unary: (call, callback) => {
        remainingMs = Number(call.getDeadline()) - Date.now();
        callback(null, Buffer.from('ok'));
      },
    });
    const { error } = await callUnary(client, Buffer.from('x'), { deadline: new Date(Date.now() + 2_000) });
    expect(error).toBeNull();
    expect(remainingMs).toBeLessThanOrEqual(2_000);
    expect(remainingMs).toBeGreaterThan(1_500);
  });

  it('re-encodes grpc-timeout as the time remaining when Tandem dispatches (raw HTTP/2 on both sides)', async () => {
    const seen: Array<string | string[] | undefined> = [];
    const backend = await startHttp2Backend((stream, headers) => {
      seen.push(headers['grpc-timeout']);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
    });
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const response = await h2Request(h2Session(mesh.port('outbound.echo')), grpcRequestHead('Unary', { 'grpc-timeout': '2S' }), grpcFrame('x'));
    expect(response.headers['grpc-status']).toBe('0');
    expect(seen).toHaveLength(1);
    const forwardedMs = grpcTimeoutMs(seen[0]);
    expect(forwardedMs, `grpc-timeout upstream was ${String(seen[0])}`).toBeDefined();
    expect(forwardedMs).toBeLessThan(2_000);
    expect(forwardedMs).toBeGreaterThan(1_500);
  });

  it('carries a 4 MiB unary message byte for byte, both ways', async () => {
    const limit = { 'grpc.max_receive_message_length': 8 * 1024 * 1024 };
    const payload = randomBytes(4 * 1024 * 1024);
    let receivedDigest = '';
    const { client } = await grpcThroughTandem(
      {
        unary: (call, callback) => {
          receivedDigest = sha256(call.request);
          callback(null, call.request);
        },
      },
      { server: limit, client: limit },
    );
    const { error, reply } = await callUnary(client, payload);
    expect(error).toBeNull();
    expect(receivedDigest).toBe(sha256(payload));
    expect(reply?.length).toBe(payload.length);
    expect(sha256(reply ?? Buffer.alloc(0))).toBe(sha256(payload));
  });
});

function sha256(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}
