import { Agent, request as httpRequest } from 'node:http';
import { constants, connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { callUnary, echoClient } from './backends.js';
import { h2Request } from './clients.js';
import { onCleanup } from './cleanup.js';
import { openLoopUntilStopped } from './openLoop.js';

/**
 * The client side of a rollout test: an app calling one address (a Tandem listener in front of
 * `rolloutAppProcess`) with an open-loop mix of HTTP/1.1 on kept-alive connections, HTTP/1.1 on a new
 * connection each, h2c and gRPC unary requests, plus long gRPC server streams started again as each
 * completes.
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

const KINDS = ['http1', 'http1-new-connection', 'h2c', 'grpc'] as const;
const MAX_FAILURES_KEPT = 20;

/** One HTTP/1.1 GET; resolves with the status and body, rejects on a connection error. */
function get(host: string, port: number, path: string, agent: Agent | false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export function startRolloutTraffic(target: { host?: string; port: number }, options: RolloutTrafficOptions): { stop(): Promise<RolloutTotals> } {
  const { host = '127.0.0.1', port } = target;
  const failures: string[] = [];
  const fail = (what: string): false => {
    if (failures.length < MAX_FAILURES_KEPT) failures.push(what);
    return false;
  };
  const agent = new Agent({ keepAlive: true });
  onCleanup(() => agent.destroy());
  let session: ClientHttp2Session | undefined;
  const h2 = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      const opened = http2Connect(`http://${host}:${port}`);
      opened.on('error', () => undefined); // a request on it says what failed
      onCleanup(() => opened.destroy());
      session = opened;
    }
    return session;
  };
  const client = echoClient(port, {}, host);

  const load = openLoopUntilStopped(options.ratePerSecond, async (index) => {
    const kind = KINDS[index % KINDS.length] as (typeof KINDS)[number];
    try {
      if (kind === 'http1' || kind === 'http1-new-connection') {
        const answer = await get(host, port, `/h1/${index}`, kind === 'http1' ? agent : false);
        return answer.status === 200 || fail(`${kind} ${index}: ${answer.status} ${answer.body.slice(0, 200)}`);
      }
      if (kind === 'h2c') {
        let answer = await h2Request(h2(), { ':path': `/h2/${index}` });
        // RFC 9113 §8.7: a refused stream was not processed and may be sent again, as grpc-js and
        // Tandem's pools do. Node's client refuses, itself, the streams it had not sent yet when a GOAWAY came.
        if (answer.rstCode === constants.NGHTTP2_REFUSED_STREAM) answer = await h2Request(h2(), { ':path': `/h2/${index}` });
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
