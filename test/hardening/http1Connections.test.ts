import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { spawnSidecar } from '../helpers/processes.js';
import { scrapeMetrics } from '../helpers/prometheus.js';
import { startRecordingBackend } from '../helpers/recordingBackend.js';
import { soakOr } from '../helpers/soak.js';
import { runUnderAttack, startLegitLoad, summarize } from '../helpers/underAttack.js';
import { sleep, waitFor } from '../helpers/wait.js';

/**
 * Connection hygiene (reliability-matrix S4, S5): the gateway's connection cap under a flood of idle
 * sockets, and the keep-alive race with an upstream that closes idle connections without saying so.
 */

const MAX_CONNECTIONS = 200;

describe('S4 connection cap', () => {
  it('closes connections over max_connections at once; the clients already connected keep being served', { timeout: 60_000 }, async () => {
    const backend = await startRecordingBackend();
    const sidecar = await spawnSidecar(
      { upstreams: [{ name: 'web' }], gateways: [{ name: 'edge', address: '127.0.0.1', routes: [{ upstream: 'web' }], max_connections: MAX_CONNECTIONS }] },
      { web: [backend.endpoint] },
    );
    const port = sidecar.port('gateway.edge');
    // The client already connected: the 8 connections its warm-up opened and no more (a new one
    // while the listener is full would be refused, rightly).
    const load = await startLegitLoad('http1', port, 250, 8);
    const rounds: Array<{ refused: number; slowestRefusalMs: number; held: number }> = [];
    const report = await runUnderAttack({
      load,
      rounds: 3,
      windowMs: 1_500,
      rssBytes: () => sidecar.rssBytes(),
      attack: async () => {
        const sockets = await Promise.all(Array.from({ length: MAX_CONNECTIONS + 200 }, () => idleSocket(port)));
        await sleep(1_000); // idle, well within request_headers_timeout (10 s)
        const refused = sockets.filter((socket) => socket.closedAfterMs !== undefined);
        rounds.push({ refused: refused.length, slowestRefusalMs: Math.max(...refused.map((socket) => socket.closedAfterMs ?? 0)), held: sockets.length - refused.length });
        for (const { socket } of sockets) socket.destroy();
        await sleep(200); // the listener sees them go before the next window
      },
    });
    const counted = (await scrapeMetrics(sidecar.port('admin'))).sum('tandem_listener_guarded_total', { listener: 'gateway.edge', reason: 'connection_limit' });
    console.log(`[S4] ${summarize(report)}; per round ${JSON.stringify(rounds)}; connection_limit counted ${counted}; backend requests from attackers ${backend.requests.filter((r) => r.url !== '/legit').length}`);
    expect(report.failures, summarize(report)).toEqual([]);
    expect(report.attackedP99Ms, summarize(report)).toBeLessThanOrEqual(2 * report.quietP99Ms);
    for (const round of rounds) {
      // The legitimate client holds a few of the 200; the attacker gets the rest and no more.
      expect(round.held).toBeLessThanOrEqual(MAX_CONNECTIONS);
      expect(round.held).toBeGreaterThanOrEqual(MAX_CONNECTIONS - 8); // the legitimate client's connections
      expect(round.slowestRefusalMs).toBeLessThanOrEqual(100);
    }
    expect(counted).toBe(rounds.reduce((sum, round) => sum + round.refused, 0));
    expect(report.rssPeakBytes - report.rssStartBytes).toBeLessThanOrEqual(64 * 2 ** 20);
  });
});

/** A connection that sends nothing; `closedAfterMs` is set when the server closes it. */
function idleSocket(port: number): Promise<{ socket: Socket; closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const entry: { socket: Socket; closedAfterMs: number | undefined } = { socket, closedAfterMs: undefined };
    let connectedAt = 0;
    socket.on('error', () => undefined);
    socket.once('close', () => (entry.closedAfterMs ??= performance.now() - connectedAt));
    socket.once('connect', () => {
      connectedAt = performance.now();
      resolve(entry);
    });
    onCleanup(() => socket.destroy());
  });
}

/** One request through the gateway; the status, or the socket error's code. */
function send(port: number, method: string, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, agent: false, headers: { connection: 'close' } }, (res: IncomingMessage) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end(method === 'POST' ? 'hi' : undefined);
  });
}

describe('S5 keep-alive race with the upstream', () => {
  it('0 failures with an upstream closing idle connections after 1 s, requests 0.9–1.1 s apart', { timeout: soakOr(60_000, 120_000) }, async () => {
    // Closes a connection idle for 1 s, as Node's keepAliveTimeout would, but without advertising it
    // (no Keep-Alive: timeout=1 for Tandem's pool to honour): the race Istio's "503 UC" comes from.
    const backend = await startRecordingBackend((_req, res: ServerResponse) => {
      res.setHeader('content-length', '2');
      res.end('ok');
    });
    backend.server.keepAliveTimeout = 0;
    const idleTimers = new WeakMap<Socket, NodeJS.Timeout>();
    let closedIdle = 0;
    backend.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      clearTimeout(idleTimers.get(req.socket));
      res.once('finish', () => idleTimers.set(req.socket, setTimeout(() => (closedIdle++, req.socket.destroy()), 1_000)));
    });
    const sidecar = await spawnSidecar({ upstreams: [{ name: 'web' }], gateways: [{ name: 'edge', address: '127.0.0.1', routes: [{ upstream: 'web' }] }] }, { web: [backend.endpoint] });
    const port = sidecar.port('gateway.edge');
    const durationMs = soakOr(12_000, 60_000);
    // Two clients: each exchange takes the pool's most recent idle socket, so with few clients a socket
    // sits idle about as long as a client waits, 0.9–1.1 s, racing the backend's 1 s close.
    const clients = 2;
    const outcomes: Array<number | string> = [];
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const end = performance.now() + durationMs;
        while (performance.now() < end) {
          outcomes.push(await send(port, 'GET', '/race'));
          await sleep(900 + Math.random() * 200);
        }
      }),
    );
    const failures = outcomes.filter((outcome) => outcome !== 200);
    const upstreamConnections = backend.connectionsAccepted();
    console.log(`[S5] ${outcomes.length} requests in ${durationMs} ms, failures ${JSON.stringify(failures)}; backend closed ${closedIdle} idle connections, accepted ${upstreamConnections}, parsed ${backend.requests.length} requests`);
    expect(failures).toEqual([]);
    expect(closedIdle).toBeGreaterThan(0); // the race was run: the backend did close idle connections
  });

  it('an idempotent request on a reused upstream socket that resets is resent once, on a new connection; a POST is not', async () => {
    // The second request on each connection gets a reset instead of an answer.
    const seen: Array<{ connection: number; method: string }> = [];
    let connections = 0;
    const server = createServer((socket) => {
      const connection = ++connections;
      let buffered = '';
      let answered = 0;
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffered.slice(0, end);
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          buffered = buffered.slice(end + 4 + length);
          seen.push({ connection, method: head.split(' ')[0] as string });
          if (answered++ === 1) return void socket.resetAndDestroy();
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    const endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const sidecar = await spawnSidecar({ upstreams: [{ name: 'web' }], gateways: [{ name: 'edge', address: '127.0.0.1', routes: [{ upstream: 'web', retry: { num_retries: 0 } }] }] }, { web: [endpoint] });
    const port = sidecar.port('gateway.edge');

    expect(await send(port, 'GET', '/a')).toBe(200);
    expect(await send(port, 'GET', '/b')).toBe(200); // reset on the reused socket, resent on a new one
    expect(seen).toEqual([
      { connection: 1, method: 'GET' },
      { connection: 1, method: 'GET' },
      { connection: 2, method: 'GET' },
    ]);
    await waitFor('the pool to hold connection 2 idle', () => seen.length === 3);
    expect(await send(port, 'POST', '/c')).toBe(502); // connection 2's second request: reset, and a POST may have been processed
    expect(seen.slice(3)).toEqual([{ connection: 2, method: 'POST' }]);
  });
});
