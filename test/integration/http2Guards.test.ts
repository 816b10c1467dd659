import { createServer, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { deferredDispatch, guardHttp2Session, HTTP2_FLOOD_LIMITS } from '../../sidecar/listener/http2Guards.js';
import { onCleanup } from '../helpers/cleanup.js';
import { ErrorCode, rapidReset, rstStream } from '../helpers/http2Floods.js';
import { RawHttp2Client } from '../helpers/rawHttp2.js';
import { sleep } from '../helpers/wait.js';

/**
 * The HTTP/2 session guards on a bare Node server, with a raw client pacing its frames: the
 * premature-reset ratio (Envoy 1.27.1) must cut a client that resets most of its streams even when
 * they arrive slowly enough to be dispatched, and must leave alone one that cancels some.
 */
async function guardedServer(answer: (stream: ServerHttp2Stream, path: string) => void): Promise<{ port: number; dispatched: string[]; reasons: string[] }> {
  const dispatched: string[] = [];
  const reasons: string[] = [];
  const server = createServer({ settings: { maxConcurrentStreams: 100 }, ...HTTP2_FLOOD_LIMITS });
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('error', () => undefined);
    guardHttp2Session(session, (reason) => reasons.push(reason));
  });
  server.on(
    'stream',
    deferredDispatch((stream, head) => {
      const path = String(head[':path']);
      dispatched.push(path);
      answer(stream, path);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => {
    for (const session of sessions) session.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, dispatched, reasons };
}

describe('HTTP/2 session guards', () => {
  it('cut a client that resets more than half of its first 100 streams within a second, with GOAWAY(ENHANCE_YOUR_CALM)', async () => {
    const server = await guardedServer(() => undefined); // never answers: every reset is premature
    const client = new RawHttp2Client(server.port);
    await client.settled;
    // Ten streams at a time, each reset 20 ms after it opened (so most were dispatched first).
    for (let id = 1; id < 400 && client.closedAt === undefined; id += 20) {
      for (let i = 0; i < 20; i += 2) client.get(id + i, 'guard.test', `/slow/${id + i}`);
      await sleep(20);
      for (let i = 0; i < 20; i += 2) client.send(rstStream(id + i, ErrorCode.Cancel));
      await sleep(5);
    }
    await Promise.race([client.closed, sleep(1_000)]);
    const seen = `dispatched ${server.dispatched.length}, guards ${server.reasons.join()}, frames ${client.frames.map((f) => f.type).join()}`;
    expect(client.goaway()?.errorCode, seen).toBe(ErrorCode.EnhanceYourCalm);
    expect(client.closedAt).toBeDefined();
    expect(server.reasons).toEqual(['http2_premature_reset']);
    expect(server.dispatched.length).toBeGreaterThan(0);
    expect(server.dispatched.length).toBeLessThanOrEqual(110); // cut at the 100th close, give or take a batch
  });

  it('leave alone a client that cancels 40 % of its streams', async () => {
    const server = await guardedServer((stream, path) => {
      if (path.startsWith('/fast')) stream.respond({ ':status': 200 }, { endStream: true });
    });
    const client = new RawHttp2Client(server.port);
    await client.settled;
    for (let id = 1; id < 600; id += 10) {
      for (let i = 0; i < 10; i += 2) client.get(id + i, 'guard.test', i < 4 ? `/slow/${id + i}` : `/fast/${id + i}`);
      await sleep(5);
      for (let i = 0; i < 4; i += 2) client.send(rstStream(id + i, ErrorCode.Cancel));
    }
    await sleep(200);
    // A slow stream whose reset arrived before its turn to be dispatched never was (client and server share this process).
    expect(server.dispatched.filter((path) => path.startsWith('/fast'))).toHaveLength(180);
    expect(client.goaway()).toBeUndefined();
    expect(client.closedAt).toBeUndefined();
    expect(server.reasons).toEqual([]);
  });

  it('never dispatch a stream whose RST_STREAM came with its HEADERS', async () => {
    const server = await guardedServer((stream) => stream.respond({ ':status': 200 }, { endStream: true }));
    const client = new RawHttp2Client(server.port);
    await client.settled;
    client.send(rapidReset(20, 'guard.test', 1));
    client.get(41, 'guard.test', '/after');
    await sleep(100);
    expect(server.dispatched).toEqual(['/after']);
    expect(client.streamEndedAt(41)).toBeDefined();
  });
});
