import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startHttp2Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request, h2Request, h2Session } from '../helpers/clients.js';
import { closedPort, grpcFrame, grpcRequestHead } from '../helpers/grpcCases.js';
import { startSidecarFor } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

/** What a grpc-js client and a hand-made gRPC request on raw HTTP/2 both see for one local error. */
async function grpcSees(port: number): Promise<{ status: grpc.StatusObject; errorCode: string | undefined }> {
  const deadline = new Date(Date.now() + 10_000); // a hang fails as DEADLINE_EXCEEDED instead of a test timeout
  const { error, trailers } = await callUnary(echoClient(port), Buffer.from('x'), { deadline });
  const raw = await h2Request(h2Session(port), grpcRequestHead('Unary'), grpcFrame('x'));
  // Never a bare HTTP error to a gRPC client: HTTP 200 and a trailers-only response.
  expect(raw.status).toBe(200);
  expect(raw.headers['content-type']).toBe('application/grpc');
  expect(raw.headersEndedStream).toBe(true);
  expect(raw.trailers).toBeUndefined();
  expect(raw.headers['grpc-status']).toBe(String(error?.code));
  expect(raw.headers['x-tandem-error']).toBe(trailers?.get('x-tandem-error')[0]);
  return {
    status: { code: error?.code ?? grpc.status.OK, details: error?.details ?? '', metadata: trailers ?? new grpc.Metadata() },
    errorCode: trailers?.get('x-tandem-error')[0]?.toString(),
  };
}

describe('local errors at the edge', () => {
  it('answers a gRPC call to an upstream without endpoints with UNAVAILABLE naming the upstream', async () => {
    const mesh = await startSidecarFor('echo', 'grpc', []);
    const { status, errorCode } = await grpcSees(mesh.port('outbound.echo'));
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(errorCode).toBe('TANDEM_NO_HEALTHY_ENDPOINT');
    expect(status.details).toContain('"echo"');
    expect(status.details).toMatch(/no healthy endpoint/);
  });

  it('answers an HTTP/1.1 request to an upstream without endpoints with 503 and x-tandem-error', async () => {
    const mesh = await startSidecarFor('echo', 'grpc', []);
    const response = await h1Request(mesh.port('outbound.echo'));
    expect(response.status).toBe(503);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_NO_HEALTHY_ENDPOINT');
    expect(response.body.toString()).toMatch(/upstream "echo" has no healthy endpoint/);
  });

  it('maps a refused connection to UNAVAILABLE for gRPC and 503 for HTTP/1.1, with TANDEM_CONNECT_FAILURE', async () => {
    const port = await closedPort();
    const mesh = await startSidecarFor('echo', 'grpc', [`127.0.0.1:${port}`]);
    const { status, errorCode } = await grpcSees(mesh.port('outbound.echo'));
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(errorCode).toBe('TANDEM_CONNECT_FAILURE');
    expect(status.details).toContain(`cannot connect to 127.0.0.1:${port}`);
    expect(status.details).toContain('ECONNREFUSED');
    const response = await h1Request(mesh.port('outbound.echo'));
    expect(response.status).toBe(503);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_CONNECT_FAILURE');
  });

  it('maps a connect that outlasts connect_timeout to UNAVAILABLE / 503 with TANDEM_CONNECT_TIMEOUT', async () => {
    const port = await unresponsiveListener();
    // Each of the three requests waits out connect_timeout once per attempt, retries included (with
    // 300ms the test took 5 s): any timeout proves the mapping, since these connects never complete.
    const mesh = await startSidecarFor('echo', 'grpc', [`127.0.0.1:${port}`], { connect_timeout: '100ms' });
    const { status, errorCode } = await grpcSees(mesh.port('outbound.echo'));
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(errorCode).toBe('TANDEM_CONNECT_TIMEOUT');
    expect(status.details).toContain('within 100ms');
    const response = await h1Request(mesh.port('outbound.echo'));
    expect(response.status).toBe(503);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_CONNECT_TIMEOUT');
  });

  it('maps an upstream that drops the connection before any response to UNAVAILABLE / 502 with TANDEM_UPSTREAM_RESET', async () => {
    const accepted = new Set<Socket>();
    const backend = await startHttp2Backend(() => {
      for (const socket of accepted) socket.destroy();
    });
    backend.server.on('connection', (socket: Socket) => accepted.add(socket));
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const { status, errorCode } = await grpcSees(mesh.port('outbound.echo'));
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(errorCode).toBe('TANDEM_UPSTREAM_RESET');
    expect(status.details).toContain(`connection to ${backend.endpoint} lost`);
    const response = await h1Request(mesh.port('outbound.echo'));
    expect(response.status).toBe(502);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_UPSTREAM_RESET');
  });
});

/**
 * A loopback port whose connects hang: a child process listens with backlog 1 and is stopped, so
 * it accepts nothing; two connections fill its accept queue (Linux queues backlog + 1), after which
 * the kernel drops further SYNs and connects wait in SYN_SENT.
 */
async function unresponsiveListener(): Promise<number> {
  const script = `const s = require('node:net').createServer();
s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  onCleanup(() => {
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`listener child exited early (${String(code)})`)));
  });
  child.kill('SIGSTOP');
  await waitFor('the listener child to stop', () => readFileSync(`/proc/${String(child.pid)}/stat`, 'utf8').split(') ')[1]?.startsWith('T') === true);
  for (let i = 0; i < 2; i++) {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    onCleanup(() => socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
  }
  return port;
}

describe('deadlines at the edge', () => {
  it('answers a call whose grpc-timeout has already passed with DEADLINE_EXCEEDED, without reaching the upstream', async () => {
    let reached = 0;
    const backend = await startHttp2Backend((stream) => {
      reached++;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
    });
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const raw = await h2Request(h2Session(mesh.port('outbound.echo')), grpcRequestHead('Unary', { 'grpc-timeout': '1n' }), grpcFrame('x'));
    expect(raw.status).toBe(200);
    expect(raw.headersEndedStream).toBe(true);
    expect(raw.headers['grpc-status']).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(raw.headers['x-tandem-error']).toBe('TANDEM_DEADLINE_EXCEEDED');
    expect(raw.headers['grpc-message']).toContain('deadline exceeded');
    const http1 = await h1Request(mesh.port('outbound.echo'), { headers: { 'content-type': 'application/grpc', 'grpc-timeout': '1n' } });
    expect(http1.status).toBe(504);
    expect(http1.headers['x-tandem-error']).toBe('TANDEM_DEADLINE_EXCEEDED');
    expect(reached).toBe(0);
  });
});
