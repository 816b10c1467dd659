import { describe, expect, it } from 'vitest';
import { attackUnderLoad, describeRun, expectLegitUnharmed, startEdge, type Cut } from '../helpers/edgeUnderAttack.js';
import { RawHttp2Client } from '../helpers/rawHttp2.js';
import { sleep } from '../helpers/wait.js';

/**
 * The attack matrix's zero-window slow reader (reliability-matrix §1b A11, CVE-2019-9517): clients
 * that announce a stream window of 0 and ask for a 64 MiB body, which the proxy can then never send
 * them. Tandem must not read the body into memory meanwhile — it stops reading the upstream once its
 * downstream write would block, so the upstream's HTTP/2 flow control holds the rest there — and the
 * route's `stream_idle_timeout` must end the stuck stream.
 */

const ROUNDS = 6;
/** Zero-window connections per attack window, each with one stream. */
const READERS = 4;
const MiB = 2 ** 20;
/** The upstream's stream window (sidecar/http/http2Settings.ts STREAM_WINDOW_BYTES). */
const UPSTREAM_STREAM_WINDOW = 1 * MiB;
const STREAM_IDLE_TIMEOUT_MS = 1_000;

describe('an HTTP/2 client that never opens its window', () => {
  it('A11: the proxy takes at most the stream window + 1 MiB of the body per connection, and stream_idle_timeout ends the stream on time', async () => {
    // The short stream_idle_timeout only on the attacker's path: a legitimate request delayed by a
    // loaded machine must not be cut by it.
    const edge = await startEdge({
      protocol: 'http2',
      mode: 'stream',
      routes: [{ match: { prefix: '/big' }, upstream: 'web', stream_idle_timeout: `${STREAM_IDLE_TIMEOUT_MS}ms` }],
    });
    const idleEnds: number[] = [];
    const run = await attackUnderLoad(
      edge,
      async () => {
        const clients = Array.from({ length: READERS }, () => new RawHttp2Client(edge.port, { initialWindowSize: 0 }));
        await Promise.all(clients.map((client) => client.settled));
        for (const client of clients) client.get(1, 'edge.test', '/big');
        // Each stream ends (RST_STREAM) when the idle timeout fires; give it twice as long.
        const deadline = performance.now() + 2 * STREAM_IDLE_TIMEOUT_MS + 500;
        while (clients.some((client) => client.streamEndedAt(1) === undefined) && performance.now() < deadline) await sleep(20);
        const { lastStreamedAt } = await edge.recorded();
        for (const client of clients) idleEnds.push(wallClock(client.streamEndedAt(1) ?? Infinity) - lastStreamedAt);
        return [] as Cut[];
      },
      ROUNDS,
    );
    const recorded = await edge.recorded();
    const perStream = recorded.streamedBytes / recorded.requests;
    const message = describeRun('A11', run, {
      streams: recorded.requests,
      streamedMiB: (recorded.streamedBytes / MiB).toFixed(2),
      perStreamMiB: (perStream / MiB).toFixed(2),
      endedAfterLastByteMs: [Math.min(...idleEnds).toFixed(0), Math.max(...idleEnds).toFixed(0)],
      backendStreamsEnded: recorded.streamsEnded,
    });
    console.log(message);
    expect(recorded.requests, message).toBe(ROUNDS * READERS);
    // The whole body is 64 MiB: the upstream sent only what the proxy read, and the proxy read only what it could hold.
    expect(perStream, message).toBeLessThanOrEqual(UPSTREAM_STREAM_WINDOW + 1 * MiB);
    // Ended by stream_idle_timeout, counted from the last byte the upstream got to send (timer slack: 500 ms).
    expect(Math.min(...idleEnds), message).toBeGreaterThanOrEqual(STREAM_IDLE_TIMEOUT_MS - 50);
    expect(Math.max(...idleEnds), message).toBeLessThanOrEqual(STREAM_IDLE_TIMEOUT_MS + 500);
    // The upstream's streams were ended too, not left holding the body.
    expect(recorded.streamsEnded, message).toBe(ROUNDS * READERS);
    // Each attack: READERS connections × (stream window + 1 MiB), and 8 MiB for what V8 and the sockets take.
    expectLegitUnharmed(run, READERS * (UPSTREAM_STREAM_WINDOW + 1 * MiB) + 8 * MiB, message);
  });
});

function wallClock(at: number): number {
  return performance.timeOrigin + at;
}
