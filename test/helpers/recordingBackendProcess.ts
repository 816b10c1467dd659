/**
 * A backend for the attack matrix in a process of its own (`node dist/test/helpers/recordingBackendProcess.js
 * http1|http2 ok|hold|stream`), so that the attacker in the test process cannot stall it: the
 * legitimate client's latency is then Tandem's. It answers `/legit` with `ok`, and records every other
 * request (the attacker's), answering it as told: `ok`; `hold` (never answers); `stream` (a 64 MiB
 * body in 16 KiB chunks, written no faster than the connection takes them). `GET /__record` answers
 * what it recorded as JSON (`Recorded` in edgeUnderAttack.ts). Prints `ready port=N`; exits when its
 * stdin closes.
 */
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';

const [protocol, mode] = process.argv.slice(2);
if ((protocol !== 'http1' && protocol !== 'http2') || (mode !== 'ok' && mode !== 'hold' && mode !== 'stream')) {
  process.stderr.write('usage: recordingBackendProcess.js http1|http2 ok|hold|stream\n');
  process.exit(2);
}

const STREAM_BYTES = 64 * 2 ** 20;
const CHUNK = Buffer.alloc(16 * 1024, 'x');
const recorded = { requests: 0, byPath: {} as Record<string, number>, streamedBytes: 0, lastStreamedAt: 0, streamsEnded: 0 };
const wallClock = (): number => performance.timeOrigin + performance.now();

function handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  if (req.url === '/legit') return void res.end('ok');
  if (req.url === '/__record') return void res.end(JSON.stringify(recorded));
  recorded.requests++;
  const first = /^\/[^/?]*/.exec(req.url ?? '')?.[0] ?? '';
  recorded.byPath[first] = (recorded.byPath[first] ?? 0) + 1;
  if (mode === 'ok') return void res.end('ok');
  if (mode === 'hold') return;
  let left = STREAM_BYTES;
  res.once('close', () => recorded.streamsEnded++);
  const write = (): void => {
    while (left > 0 && !res.destroyed) {
      left -= CHUNK.length;
      const more = (res as ServerResponse).write(CHUNK, (error?: Error | null) => {
        if (error) return; // never sent: the stream was reset with it still queued
        recorded.streamedBytes += CHUNK.length;
        recorded.lastStreamedAt = wallClock();
      });
      if (!more) return void res.once('drain', write);
    }
    if (left <= 0) res.end();
  };
  write();
}

const server = protocol === 'http1' ? createHttp1Server(handle) : createHttp2Server(handle);
server.on('session', (session: { on(event: 'error', listener: () => void): void }) => session.on('error', () => undefined));
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready port=${(server.address() as AddressInfo).port}\n`));
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0)).resume();
