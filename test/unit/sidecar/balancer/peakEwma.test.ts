import { describe, expect, it } from 'vitest';
import type { Balancer, Outcome, PickResult, Picker } from '../../../../sidecar/balancer/balancer.js';
import { peakEwma } from '../../../../sidecar/balancer/peakEwma.js';
import { fakeEndpoint, seededRandom, type FakeEndpoint } from '../../../helpers/fakes.js';

/** A peak_ewma balancer on a clock the test moves by hand. */
function setup(endpoints: FakeEndpoint[]): { balancer: Balancer<FakeEndpoint>; picker: () => Picker<FakeEndpoint>; clock: { now: number } } {
  const clock = { now: 0 };
  let current: Picker<FakeEndpoint> | undefined;
  const balancer = peakEwma.create(peakEwma.configSchema.parse({ policy: 'peak_ewma' }), {
    publish: (p) => (current = p),
    random: seededRandom(5),
    now: () => clock.now,
    totalActiveRequests: () => endpoints.reduce((sum, endpoint) => sum + endpoint.activeRequests, 0),
  });
  balancer.update(endpoints);
  return { balancer, picker: () => current as Picker<FakeEndpoint>, clock };
}

const outcome = (ms: number): Outcome => ({ status: 200, grpcStatus: undefined, error: undefined, success: true, latencyMs: ms + 100, timeToHeadMs: ms });

function ok(result: PickResult<FakeEndpoint>): Extract<PickResult<FakeEndpoint>, { kind: 'ok' }> {
  if (result.kind !== 'ok') throw new Error(result.kind);
  return result;
}

function share(p: Picker<FakeEndpoint>, id: string, picks: number): number {
  let hits = 0;
  for (let i = 0; i < picks; i++) if (ok(p.pick({ tried: new Set(), hashKey: undefined })).endpoint.id === id) hits++;
  return hits / picks;
}

describe('peak_ewma', () => {
  it('avoids an endpoint whose responses are slow', () => {
    const endpoints = ['fast1', 'fast2', 'slow'].map((id) => fakeEndpoint(id));
    const { picker, clock } = setup(endpoints);
    for (let i = 0; i < 50; i++) {
      clock.now += 10;
      for (const endpoint of endpoints) ok(picker().pick({ tried: new Set(), hashKey: undefined })).onDone?.(endpoint, outcome(endpoint.id === 'slow' ? 50 : 1));
    }
    expect(share(picker(), 'slow', 3_000)).toBe(0);
  });

  it('tracks latency to the response head, not the length of the body', () => {
    const [a, b] = ['a', 'b'].map((id) => fakeEndpoint(id)) as [FakeEndpoint, FakeEndpoint];
    const { balancer, picker } = setup([a, b]);
    const onDone = ok(picker().pick({ tried: new Set(), hashKey: undefined })).onDone;
    onDone?.(a, outcome(50)); // head after 50 ms, body after 150 ms
    expect(balancer.describeEndpoint?.(a)).toEqual({ ewma_ms: 50 });
  });

  it('jumps to a slower observation at once and forgets it over the decay period', () => {
    const [a] = [fakeEndpoint('a')];
    const { balancer, picker, clock } = setup([a]);
    const onDone = ok(picker().pick({ tried: new Set(), hashKey: undefined })).onDone;
    onDone?.(a, outcome(500));
    expect(balancer.describeEndpoint?.(a)).toEqual({ ewma_ms: 500 });
    clock.now += 10_000; // one decay period: the estimate falls by a factor of e
    expect((balancer.describeEndpoint?.(a) as { ewma_ms: number }).ewma_ms).toBeCloseTo(500 / Math.E, 0);
  });

  it('counts requests in flight: an endpoint with many is avoided despite equal latency', () => {
    const endpoints = ['a', 'b'].map((id) => fakeEndpoint(id));
    (endpoints[0] as FakeEndpoint).activeRequests = 5;
    const { picker } = setup(endpoints);
    expect(share(picker(), 'a', 1_000)).toBe(0);
  });

  it('starts new endpoints at default_rtt (30 ms)', () => {
    const a = fakeEndpoint('a');
    const { balancer } = setup([a]);
    expect(balancer.describeEndpoint?.(a)).toEqual({ ewma_ms: 30 });
  });

  it('keeps an endpoint estimate across updates while the endpoint stays', () => {
    const [a, b] = ['a', 'b'].map((id) => fakeEndpoint(id)) as [FakeEndpoint, FakeEndpoint];
    const { balancer, picker } = setup([a, b]);
    ok(picker().pick({ tried: new Set(), hashKey: undefined })).onDone?.(a, outcome(80));
    balancer.update([a, b, fakeEndpoint('c')]);
    expect(balancer.describeEndpoint?.(a)).toEqual({ ewma_ms: 80 });
  });
});
