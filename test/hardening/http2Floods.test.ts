import { describe, expect, it } from 'vitest';
import { attackOnce, attackUnderLoad, describeRun, expectLegitUnharmed, startEdge, slowestClose } from '../helpers/edgeUnderAttack.js';
import { continuationFlood, emptyData, ErrorCode, pings, priorityFlood, settingsFrames, zeroLengthHeaders } from '../helpers/http2Floods.js';

/**
 * The attack matrix's frame floods (reliability-matrix §1b A3–A7, A9), 20k frames each, written in
 * one go on a connection of their own, against a real Tandem gateway listener with a legitimate
 * HTTP/2 client beside it (250 requests/s) in alternating quiet and attack windows.
 */

const ROUNDS = 6;
const FRAMES = 20_000;
const MiB = 2 ** 20;
/** A3/A4: the attacker reads nothing for this long after its flood, then reads again. */
const NOT_READING_MS = 500;

interface Flood {
  readonly id: string;
  readonly title: string;
  readonly bytes: () => Buffer;
  /** The matrix's bound on the close, from the flood's write (or from reading again, for A3/A4). */
  readonly closeWithinMs: number;
  readonly resumeReadingAfterMs?: number;
  /** The GOAWAY's error code: nghttp2's INTERNAL_ERROR for what it calls a flood. */
  readonly goaway: number;
  /** The reason the listener counts the cut under. */
  readonly reason: string;
  /** Requests of the attacker's that may reach the upstream, over all rounds. */
  readonly upstreamAtMost: number;
  readonly rssBoundBytes: number;
}

const FLOODS: readonly Flood[] = [
  {
    id: 'A3',
    title: 'a PING flood from a client that does not read is closed within 2 s of its reading again',
    bytes: () => pings(FRAMES),
    closeWithinMs: NOT_READING_MS + 2_000,
    resumeReadingAfterMs: NOT_READING_MS,
    goaway: ErrorCode.InternalError,
    reason: 'http2_flood',
    upstreamAtMost: 0,
    rssBoundBytes: 10 * MiB,
  },
  {
    id: 'A4',
    title: 'a SETTINGS flood from a client that does not read is closed within 2 s of its reading again',
    bytes: () => settingsFrames(FRAMES),
    closeWithinMs: NOT_READING_MS + 2_000,
    resumeReadingAfterMs: NOT_READING_MS,
    goaway: ErrorCode.InternalError,
    reason: 'http2_flood',
    upstreamAtMost: 0,
    rssBoundBytes: 10 * MiB,
  },
  {
    id: 'A5',
    title: 'empty DATA frames get GOAWAY and a close within 100 ms, and at most their one stream reaches the upstream',
    bytes: () => emptyData(FRAMES, 'edge.test'),
    closeWithinMs: 100,
    goaway: ErrorCode.InternalError,
    reason: 'http2_invalid_frames',
    upstreamAtMost: ROUNDS, // ≤ 1 stream per connection
    rssBoundBytes: 10 * MiB,
  },
  {
    id: 'A6',
    title: 'a CONTINUATION flood gets GOAWAY and a close within 100 ms',
    bytes: () => continuationFlood(FRAMES, 'edge.test'),
    closeWithinMs: 100,
    goaway: ErrorCode.InternalError,
    reason: 'http2_flood',
    upstreamAtMost: 0,
    rssBoundBytes: 10 * MiB,
  },
  {
    id: 'A7',
    title: 'empty HEADERS and CONTINUATION frames get GOAWAY and a close within 100 ms',
    bytes: () => zeroLengthHeaders(FRAMES),
    closeWithinMs: 100,
    goaway: ErrorCode.InternalError,
    reason: 'http2_flood',
    upstreamAtMost: 0,
    rssBoundBytes: 10 * MiB,
  },
  {
    id: 'A9',
    title: 'a PRIORITY flood gets GOAWAY(ENHANCE_YOUR_CALM) and a close within 200 ms',
    bytes: () => priorityFlood(FRAMES),
    closeWithinMs: 200,
    goaway: ErrorCode.EnhanceYourCalm,
    reason: 'http2_protocol_error', // nghttp2's glitch limit; Node 24 emits no 'priority' event for JS to count
    upstreamAtMost: 0,
    rssBoundBytes: 10 * MiB,
  },
];

describe('HTTP/2 frame floods against a gateway listener', () => {
  for (const flood of FLOODS) {
    it(`${flood.id}: ${flood.title}`, async () => {
      const edge = await startEdge();
      const attack = flood.bytes();
      const options = flood.resumeReadingAfterMs === undefined ? {} : { resumeReadingAfterMs: flood.resumeReadingAfterMs };
      const run = await attackUnderLoad(edge, () => attackOnce(edge.port, attack, options), ROUNDS);
      const { requests } = await edge.recorded();
      const counted = await edge.guarded(flood.reason);
      const message = describeRun(flood.id, run, { upstreamRequests: requests, [flood.reason]: counted });
      console.log(message);
      expect(run.cuts.map((cut) => cut.goawayCode), message).toEqual(run.cuts.map(() => flood.goaway));
      expect(slowestClose(run.cuts), message).toBeLessThanOrEqual(flood.closeWithinMs);
      expect(requests, message).toBeLessThanOrEqual(flood.upstreamAtMost);
      expect(counted, message).toBe(ROUNDS);
      expectLegitUnharmed(run, flood.rssBoundBytes, message);
    });
  }
});
