import { describe, expect, it } from 'vitest';
import { startHttp2Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { frame, getHeaderBlock } from '../helpers/http2Floods.js';
import { RawHttp2Client } from '../helpers/rawHttp2.js';
import { startSidecarFor } from '../helpers/sidecar.js';
import { sleep } from '../helpers/wait.js';

/**
 * `pool.initial_stream_window_size` bounds what Tandem holds of a response its client does not read:
 * a client announcing a window of 0 takes nothing, and the upstream can send only the window Tandem
 * announced to it before it waits.
 */

const CHUNK = Buffer.alloc(16 * 1024, 'x');
const BODY_CHUNKS = 256; // 4 MiB

/** Bytes the upstream got sent on a response whose client never reads, once sending has stopped. */
async function sentToStalledClient(pool: Record<string, unknown>): Promise<number> {
  let sent = 0;
  const backend = await startHttp2Backend((stream) => {
    stream.respond({ ':status': 200 });
    let left = BODY_CHUNKS;
    const write = (): void => {
      while (left > 0 && !stream.destroyed) {
        left--;
        // Called once the chunk is on the socket, which flow control allows only within the window.
        if (!stream.write(CHUNK, (error) => void (error ? undefined : (sent += CHUNK.length)))) return void stream.once('drain', write);
      }
      if (left === 0) stream.end();
    };
    write();
  });
  const sidecar = await startSidecarFor('web', 'http2', [backend.endpoint], { pool });
  const client = new RawHttp2Client(sidecar.port('outbound.web'), { initialWindowSize: 0 });
  onCleanup(() => client.reset());
  await client.settled;
  client.send(frame(0x1, 0x1 | 0x4, 1, getHeaderBlock('web', '/big'))); // HEADERS, END_STREAM | END_HEADERS
  // Until what the upstream sends stops growing.
  let last = -1;
  while (sent !== last) {
    last = sent;
    await sleep(300);
  }
  return sent;
}

describe('upstream HTTP/2 stream window', () => {
  it('lets an upstream send a stalled client only the window Tandem announced: 1 MiB by default, 64 KiB when set', async () => {
    const byDefault = await sentToStalledClient({});
    const edge = await sentToStalledClient({ initial_stream_window_size: 65_535 });
    // The upstream may send the window, plus what Tandem has already taken from it for the client:
    // the client-side stream's buffer (Node's 16 KiB high-water mark, overshot by the chunks that came
    // in the same read), which Tandem acknowledges upstream once it passes half the window (nghttp2's
    // WINDOW_UPDATE rule) — so it shows with a 64 KiB window (measured 144 KiB in all) and not with 1 MiB.
    const takenForTheClient = 96 * 1024;
    expect(byDefault).toBeGreaterThan(900 * 1024);
    expect(byDefault).toBeLessThanOrEqual(1024 * 1024 + takenForTheClient);
    expect(edge).toBeGreaterThan(32 * 1024);
    expect(edge).toBeLessThanOrEqual(65_535 + takenForTheClient);
  });
});
