import { describe, expect, it } from 'vitest';
import { attackOnce, attackUnderLoad, describeRun, expectLegitUnharmed, startEdge, slowestClose } from '../helpers/edgeUnderAttack.js';
import { ErrorCode, Flag, frame, FrameType, getHeaderBlock, windowOverflow } from '../helpers/http2Floods.js';
import { runConcurrently } from '../helpers/load.js';
import { RawHttp2Client } from '../helpers/rawHttp2.js';
import { sleep } from '../helpers/wait.js';

/**
 * The attack matrix's connection churn (reliability-matrix §1b A8, A12): many short connections that
 * the server must end (window overflow, a broken header block) or that drop without a word, against
 * a real Tandem gateway listener with a legitimate HTTP/2 client beside it (250 requests/s). What
 * they must leave behind is nothing: the listener's session gauge returns to 0 and memory stays flat.
 */

const ROUNDS = 6;
const CONCURRENCY = 25;
const MiB = 2 ** 20;

/**
 * A header block that cannot be decoded (HPACK index 0, RFC 7541 §6.1: a COMPRESSION_ERROR for the
 * whole connection), and behind it in the same write a well-formed GET that must go nowhere.
 */
const BROKEN_HEADER_BLOCK = Buffer.concat([
  frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 1, Buffer.from([0x80])),
  frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 3, getHeaderBlock('edge.test', '/after-goaway')),
]);

describe('HTTP/2 connection churn against a gateway listener', () => {
  it('A8: 1000 connections that overflow the window each get GOAWAY(FLOW_CONTROL_ERROR), and the sessions all go', async () => {
    const edge = await startEdge();
    const perRound = Math.ceil(1_000 / ROUNDS);
    const attack = windowOverflow();
    const sessionsDuring: number[] = [];
    const run = await attackUnderLoad(
      edge,
      async () => {
        sessionsDuring.push(await edge.connections('http2')); // the legitimate client's, at least
        return runConcurrently(perRound, CONCURRENCY, () => attackOnce(edge.port, attack));
      },
      ROUNDS,
    );
    const sessionsLeft = await settledGauge(() => edge.connections('http2'));
    const protocolErrors = await edge.guarded('http2_protocol_error');
    const message = describeRun('A8', run, { sessionsDuring, sessionsLeft, http2_protocol_error: protocolErrors });
    console.log(message);
    expect(run.cuts.map((cut) => cut.goawayCode), message).toEqual(run.cuts.map(() => ErrorCode.FlowControlError));
    expect(slowestClose(run.cuts), message).toBeLessThanOrEqual(1_000);
    expect(Math.min(...sessionsDuring), message).toBeGreaterThanOrEqual(1);
    expect(sessionsLeft, message).toBe(0);
    expect(protocolErrors, message).toBe(run.cuts.length);
    expectLegitUnharmed(run, 20 * MiB, message);
  });

  it('A12: 2000 connections that get GOAWAY for a broken header block or drop without one leave no session, and none is served after its GOAWAY', async () => {
    const edge = await startEdge();
    const perRound = Math.ceil(2_000 / ROUNDS);
    let dropped = 0;
    const sessionsDuring: number[] = [];
    const run = await attackUnderLoad(
      edge,
      async () => {
        sessionsDuring.push(await edge.connections('http2')); // the legitimate client's, at least
        return (
          await runConcurrently(perRound, CONCURRENCY, async (index) => {
            if (index % 2 === 0) return [await attackOnce(edge.port, BROKEN_HEADER_BLOCK)];
            // Abrupt: a request, then a TCP reset with no GOAWAY either way.
            const client = new RawHttp2Client(edge.port);
            await client.settled;
            client.get(1, 'edge.test', '/dropped');
            client.reset();
            dropped++;
            return [];
          })
        ).flat();
      },
      ROUNDS,
    );
    const sessionsLeft = await settledGauge(() => edge.connections('http2'));
    const { byPath } = await edge.recorded();
    const protocolErrors = await edge.guarded('http2_protocol_error');
    const message = describeRun('A12', run, { dropped, sessionsDuring, sessionsLeft, upstreamRequests: byPath, http2_protocol_error: protocolErrors });
    console.log(message);
    expect(run.cuts.map((cut) => cut.goawayCode), message).toEqual(run.cuts.map(() => ErrorCode.CompressionError));
    expect(slowestClose(run.cuts), message).toBeLessThanOrEqual(1_000);
    expect(Math.min(...sessionsDuring), message).toBeGreaterThanOrEqual(1);
    expect(sessionsLeft, message).toBe(0);
    expect(byPath['/after-goaway'] ?? 0, message).toBe(0);
    expect(protocolErrors, message).toBe(run.cuts.length);
    expectLegitUnharmed(run, 20 * MiB, message);
  });
});
/** The gauge once it has stopped falling (the legitimate client's session closes as its load stops), within 2 s. */
async function settledGauge(read: () => Promise<number>): Promise<number> {
  const deadline = performance.now() + 2_000;
  let value = await read();
  while (value > 0 && performance.now() < deadline) {
    await sleep(50);
    value = await read();
  }
  return value;
}
