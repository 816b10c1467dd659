import { describe, expect, it } from 'vitest';
import { attackOnce, attackUnderLoad, describeRun, expectLegitUnharmed, startEdge, slowestClose } from '../helpers/edgeUnderAttack.js';
import { ErrorCode, malformedHeaders, openStreams, rapidReset } from '../helpers/http2Floods.js';
import { FrameType } from '../helpers/rawHttp2.js';

/**
 * The attack matrix's stream abuse (reliability-matrix §1b A1, A2, A10): streams opened only to be
 * reset, or more of them than the server allows, each on a connection of its own in each of 6 attack
 * windows, against a real Tandem gateway listener with a legitimate HTTP/2 client beside it.
 */

const ROUNDS = 6;
const MiB = 2 ** 20;

describe('HTTP/2 stream abuse against a gateway listener', () => {
  it('A1: a rapid reset gets GOAWAY(ENHANCE_YOUR_CALM) and a close within 2 s, and none of its streams reaches the upstream', async () => {
    const edge = await startEdge();
    const attack = rapidReset(5_000, 'edge.test');
    const run = await attackUnderLoad(edge, () => attackOnce(edge.port, attack), ROUNDS);
    const { requests } = await edge.recorded();
    const premature = await edge.guarded('http2_premature_reset');
    const message = describeRun('A1', run, { upstreamRequests: requests, http2_premature_reset: premature });
    console.log(message);
    expect(run.cuts.map((cut) => cut.goawayCode), message).toEqual(run.cuts.map(() => ErrorCode.EnhanceYourCalm));
    expect(slowestClose(run.cuts), message).toBeLessThanOrEqual(2_000);
    // The matrix allows 100 per connection; deferred dispatch lets none through.
    expect(requests, message).toBe(0);
    expect(premature, message).toBe(ROUNDS);
    expectLegitUnharmed(run, 10 * MiB, message);
  });

  it('A2: requests without :path, which the server resets itself, get GOAWAY(PROTOCOL_ERROR) and a close within 2 s and never reach the upstream', async () => {
    const edge = await startEdge();
    const attack = malformedHeaders(5_000);
    const run = await attackUnderLoad(edge, () => attackOnce(edge.port, attack), ROUNDS);
    const { requests } = await edge.recorded();
    const protocolErrors = await edge.guarded('http2_protocol_error');
    const message = describeRun('A2', run, { upstreamRequests: requests, http2_protocol_error: protocolErrors });
    console.log(message);
    expect(run.cuts.map((cut) => cut.goawayCode), message).toEqual(run.cuts.map(() => ErrorCode.ProtocolError));
    expect(slowestClose(run.cuts), message).toBeLessThanOrEqual(2_000);
    expect(requests, message).toBe(0);
    expect(protocolErrors, message).toBe(ROUNDS);
    expectLegitUnharmed(run, 10 * MiB, message);
  });

  it('A10: 1000 concurrent streams: SETTINGS says 100, no more than 100 are forwarded, and the connection ends within 1 s', async () => {
    // The upstream never answers the attacker: its streams stay open, as a slow upstream's would.
    const edge = await startEdge({ mode: 'hold' });
    const attack = openStreams(1_000, 'edge.test');
    const run = await attackUnderLoad(edge, () => attackOnce(edge.port, attack), ROUNDS);
    const advertised = run.cuts.map((cut) => maxConcurrentStreams(cut.client.frames.find((f) => f.type === FrameType.Settings && f.flags === 0)?.payload));
    const { requests } = await edge.recorded();
    const protocolErrors = await edge.guarded('http2_protocol_error');
    const message = describeRun('A10', run, { upstreamRequests: requests, advertised: [...new Set(advertised)], http2_protocol_error: protocolErrors });
    console.log(message);
    expect(advertised, message).toEqual(run.cuts.map(() => 100));
    // nghttp2 takes a stream over the advertised limit for a connection error, not a stream one.
    expect(run.cuts.map((cut) => cut.goawayCode), message).toEqual(run.cuts.map(() => ErrorCode.ProtocolError));
    expect(slowestClose(run.cuts), message).toBeLessThanOrEqual(1_000);
    expect(requests, message).toBeLessThanOrEqual(100 * ROUNDS);
    expect(protocolErrors, message).toBe(ROUNDS);
    expectLegitUnharmed(run, 20 * MiB, message);
  });
});

/** SETTINGS_MAX_CONCURRENT_STREAMS (0x3) in a SETTINGS payload, if present. */
function maxConcurrentStreams(payload: Buffer | undefined): number | undefined {
  for (let offset = 0; payload !== undefined && offset + 6 <= payload.length; offset += 6) {
    if (payload.readUInt16BE(offset) === 0x3) return payload.readUInt32BE(offset + 2);
  }
  return undefined;
}
