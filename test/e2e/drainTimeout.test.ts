import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { echoClient, startGrpcBackend, startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request } from '../helpers/clients.js';
import { spawnSidecar, type SidecarProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/**
 * `drain.timeout` through a real Tandem process: what is still open when it passes is cut — a gRPC
 * stream with UNAVAILABLE naming the drain, an HTTP/1.1 request without a response head with a 503 —
 * and the process exits 0 saying how much it cut.
 */

const DRAIN_TIMEOUT_MS = 2_000;
/** How late after `drain.timeout` the cut may reach the client: signal delivery, the cut, the trailers. */
const CUT_SLACK_MS = 500;
const drainConfig = { wait_before_drain: '0s', timeout: `${DRAIN_TIMEOUT_MS / 1_000}s` };
/** The backend's server stream: a message this often, for far longer than the drain may last. */
const STREAM_TICK_MS = 200;

type Direction = 'inbound' | 'outbound';

/**
 * A sidecar in front of the backend at `backendPort`, reached on the returned port: as the local
 * app's inbound listener (plaintext, no identity), or as an upstream's outbound listener.
 */
async function sidecarTo(direction: Direction, protocol: 'grpc' | 'http1', backendPort: number): Promise<{ sidecar: SidecarProcess; port: number }> {
  if (direction === 'inbound') {
    const sidecar = await spawnSidecar({ service: { name: 'app', port: backendPort, protocol }, inbound: { port: 0 }, drain: drainConfig });
    return { sidecar, port: sidecar.port('inbound') };
  }
  const sidecar = await spawnSidecar({ upstreams: [{ name: 'app', protocol, local_port: 0 }], drain: drainConfig }, { app: [`127.0.0.1:${backendPort}`] });
  return { sidecar, port: sidecar.port('outbound.app') };
}

/** A gRPC backend whose ServerStream sends `tick <n>` every STREAM_TICK_MS until the call goes away. */
async function endlessStreamBackend(): Promise<{ port: number; openStreams: () => number }> {
  let open = 0;
  const backend = await startGrpcBackend({
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      open++;
      let sent = 0;
      let stopped = false;
      const timer = setInterval(() => call.write(Buffer.from(`tick ${++sent}`)), STREAM_TICK_MS);
      const stop = (): void => {
        if (stopped) return;
        stopped = true;
        open--;
        clearInterval(timer);
      };
      call.once('cancelled', stop).once('close', stop);
      onCleanup(stop);
    },
  });
  return { port: backend.port, openStreams: () => open };
}

/** The stderr lines a drain that cut one request or stream of `direction` at the timeout must have written. */
function expectCutLogged(stderr: string, direction: Direction): void {
  const [inbound, outbound] = direction === 'inbound' ? [1, 0] : [0, 1];
  expect(stderr).toContain(`msg="drain timeout: cut what was still open" inbound=${inbound} outbound=${outbound}`);
  expect(stderr).toMatch(new RegExp(`msg=drained mode=shutdown cut_inbound=${inbound} cut_outbound=${outbound} duration_ms=\\d+`));
}

/** A server stream's messages as they arrive, and its status once it has ended. */
function watchStream(call: grpc.ClientReadableStream<Buffer>): { messages: string[]; ended: Promise<{ status: grpc.StatusObject; at: number }> } {
  const messages: string[] = [];
  call.on('data', (message: Buffer) => messages.push(message.toString()));
  call.on('error', () => undefined); // the status below carries the same code and details
  const ended = new Promise<{ status: grpc.StatusObject; at: number }>((resolve) => call.once('status', (status) => resolve({ status, at: performance.now() })));
  return { messages, ended };
}

describe('drain.timeout cuts what is still open, and Tandem exits 0', () => {
  it.each(['inbound', 'outbound'] as const)(
    'an endless gRPC server stream (%s) ends with UNAVAILABLE naming drain.timeout, within 500 ms after it',
    async (direction) => {
      const backend = await endlessStreamBackend();
      const { sidecar, port } = await sidecarTo(direction, 'grpc', backend.port);
      const stream = watchStream(echoClient(port).serverStream(Buffer.from('go')));
      await waitFor('three messages through Tandem', () => stream.messages.length >= 3);

      const signalledAt = performance.now();
      const exited = sidecar.stop('SIGTERM');
      const receivedBefore = stream.messages.length;
      const { status, at } = await stream.ended;
      const endedAfterMs = at - signalledAt;

      expect(status.code, status.details).toBe(14); // UNAVAILABLE
      expect(status.details).toMatch(/^Tandem is draining: drain\.timeout \(2s\) passed/);
      // Served until the timeout (not cut when the drain began), then cut right after it.
      expect(endedAfterMs).toBeGreaterThanOrEqual(DRAIN_TIMEOUT_MS);
      expect(endedAfterMs).toBeLessThan(DRAIN_TIMEOUT_MS + CUT_SLACK_MS);
      expect(stream.messages.length - receivedBefore).toBeGreaterThanOrEqual(5); // ~10 sent while draining
      expect(await exited).toBe(0);
      expectCutLogged(sidecar.stderr(), direction);
      // The cut reached the backend too: its stream was cancelled, not left writing.
      await waitFor('the backend stream to be cancelled', () => backend.openStreams() === 0);
    },
    15_000,
  );

  it.each(['inbound', 'outbound'] as const)(
    'an HTTP/1.1 request (%s) still waiting for its response head gets 503 TANDEM_SHUTTING_DOWN',
    async (direction) => {
      let arrived = 0;
      const backend = await startHttp1Backend(() => arrived++); // never answers
      const { sidecar, port } = await sidecarTo(direction, 'http1', backend.port);
      const response = h1Request(port, { path: '/slow' });
      await waitFor('the request to reach the backend', () => arrived === 1);

      const signalledAt = performance.now();
      const exited = sidecar.stop('SIGTERM');
      const answer = await response;
      const answeredAfterMs = performance.now() - signalledAt;

      expect(answer.status, answer.body.toString()).toBe(503);
      expect(answer.headers['x-tandem-error']).toBe('TANDEM_SHUTTING_DOWN');
      expect(answer.body.toString()).toMatch(/^Tandem is draining: drain\.timeout \(2s\) passed/);
      expect(answeredAfterMs).toBeGreaterThanOrEqual(DRAIN_TIMEOUT_MS);
      expect(answeredAfterMs).toBeLessThan(DRAIN_TIMEOUT_MS + CUT_SLACK_MS);
      expect(await exited).toBe(0);
      expectCutLogged(sidecar.stderr(), direction);
    },
    15_000,
  );
});
