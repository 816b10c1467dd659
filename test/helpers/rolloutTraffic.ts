import { Agent } from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { callUnary, echoClient } from './backends.js';
import { h1Request, h2Request, h2Session } from './clients.js';
import { onCleanup } from './cleanup.js';
import { openLoopUntilStopped } from './openLoop.js';

/**
 * The client side of a rollout test: an app calling one port (a Tandem's outbound listener for the
 * `backend` upstream, which runs `rolloutAppProcess`) with an open-loop mix of HTTP/1.1, h2c and gRPC
 * unary requests, plus long gRPC server streams started again as each completes.
 */

export interface RolloutTotals {
  readonly ok: number;
  readonly failed: number;
  /** Streams that delivered every message and ended with OK. */
  readonly streamsCompleted: number;
  /** Streams that ended any other way. */
  readonly streamsCut: number;
  /** What went wrong, the first few of each. */
  readonly failures: readonly string[];
}

export interface RolloutTrafficOptions {
  readonly ratePerSecond: number;
  readonly streams: number;
  /** Each stream: this many messages, `streamIntervalMs` apart. */
  readonly streamMessages: number;
  readonly streamIntervalMs: number;
}

const KINDS = ['http1', 'h2c', 'grpc'] as const;
const MAX_FAILURES_KEPT = 20;

export function startRolloutTraffic(port: number, options: RolloutTrafficOptions): { stop(): Promise<RolloutTotals> } {
  const failures: string[] = [];
  const fail = (what: string): false => {
    if (failures.length < MAX_FAILURES_KEPT) failures.push(what);
    return false;
  };
  const agent = new Agent({ keepAlive: true });
  onCleanup(() => agent.destroy());
  let session: ClientHttp2Session | undefined;
  const h2 = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) session = h2Session(port);
    return session;
  };
  const client = echoClient(port);

  const load = openLoopUntilStopped(options.ratePerSecond, async (index) => {
    const kind = KINDS[index % KINDS.length] as (typeof KINDS)[number];
    try {
      if (kind === 'http1') {
        const answer = await h1Request(port, { path: `/h1/${index}`, agent });
        return answer.status === 200 || fail(`http1 ${index}: ${answer.status} ${answer.body.toString().slice(0, 200)}`);
      }
      if (kind === 'h2c') {
        const answer = await h2Request(h2(), { ':path': `/h2/${index}` });
        return answer.status === 200 || fail(`h2c ${index}: status ${answer.status} rst ${answer.rstCode} ${answer.body.toString().slice(0, 200)}`);
      }
      const answer = await callUnary(client, Buffer.from(String(index)), { deadline: new Date(Date.now() + 10_000) });
      return (answer.error === null && answer.reply?.toString() === `echo:${index}`) || fail(`grpc ${index}: ${answer.error?.code} ${answer.error?.details}`);
    } catch (error) {
      return fail(`${kind} ${index}: ${(error as Error).message}`);
    }
  });

  let running = true;
  let streamsCompleted = 0;
  let streamsCut = 0;
  const oneStream = (): Promise<void> =>
    new Promise((resolve) => {
      const call = client.serverStream(Buffer.from(`${options.streamMessages}x${options.streamIntervalMs}`));
      let messages = 0;
      call.on('data', () => messages++);
      call.on('error', () => undefined); // the status says it
      call.on('status', (status: grpc.StatusObject) => {
        if (status.code === grpc.status.OK && messages === options.streamMessages) streamsCompleted++;
        else {
          streamsCut++;
          fail(`stream: status ${status.code} (${status.details}) after ${messages} of ${options.streamMessages} messages`);
        }
        resolve();
      });
    });
  const streams = Array.from({ length: options.streams }, async () => {
    while (running) await oneStream();
  });

  return {
    async stop() {
      running = false;
      const { ok, failed } = await load.stop();
      await Promise.all(streams);
      return { ok, failed, streamsCompleted, streamsCut, failures };
    },
  };
}
