import { describe, expect, it } from 'vitest';
import type { BalancerFactory, PickResult } from '../../../../sidecar/balancer/balancer.js';
import { leastRequest } from '../../../../sidecar/balancer/leastRequest.js';
import { maglev } from '../../../../sidecar/balancer/maglev.js';
import { peakEwma } from '../../../../sidecar/balancer/peakEwma.js';
import { random } from '../../../../sidecar/balancer/random.js';
import { ringHash } from '../../../../sidecar/balancer/ringHash.js';
import { roundRobin } from '../../../../sidecar/balancer/roundRobin.js';
import { RecordedExplanation } from '../../../../sidecar/cluster/pickDecision.js';
import { fakeEndpoint, recordingHelper, seededRandom, type FakeEndpoint } from '../../../helpers/fakes.js';
import { KEYS } from '../../../helpers/hashing.js';

const NONE_TRIED: ReadonlySet<string> = new Set();

function picker(factory: BalancerFactory, endpoints: FakeEndpoint[], config: object = {}, totalActive = (): number => 0) {
  const helper = recordingHelper<FakeEndpoint>(seededRandom(3), totalActive);
  factory.create(factory.configSchema.parse({ policy: factory.name, ...config }), helper).update(endpoints);
  return helper.picker();
}

function chosen(result: PickResult<FakeEndpoint>): string {
  if (result.kind !== 'ok') throw new Error(result.kind);
  return result.endpoint.id;
}

/** Five endpoints with 0..4 requests in flight, shuffled so load does not follow order. */
function loaded(): FakeEndpoint[] {
  return [3, 0, 4, 1, 2].map((active, i) => ({ ...fakeEndpoint(`e${i}`), activeRequests: active }));
}

describe('pick explanations', () => {
  it('least_request lists the candidates it drew with their loads, and picks the least loaded of them', () => {
    const p = picker(leastRequest, loaded());
    for (let i = 0; i < 200; i++) {
      const explanation = new RecordedExplanation();
      const id = chosen(p.pick({ tried: NONE_TRIED, hashKey: undefined, explain: explanation }));
      expect(explanation.steps).toEqual([{ fact: 'choices', value: 2 }]);
      expect(explanation.weighed).toHaveLength(2);
      const least = explanation.weighed.reduce((a, b) => ((a['active_requests'] as number) <= (b['active_requests'] as number) ? a : b));
      expect(id).toBe(least.endpoint);
    }
  });

  it('weighted least_request names the endpoint its schedule chose', () => {
    const p = picker(leastRequest, [fakeEndpoint('a', 1), fakeEndpoint('b', 3)]);
    for (let i = 0; i < 50; i++) {
      const explanation = new RecordedExplanation();
      const id = chosen(p.pick({ tried: NONE_TRIED, hashKey: undefined, explain: explanation }));
      expect(explanation.steps[0]).toMatchObject({ fact: 'scheduled', value: { endpoint: id } });
    }
  });

  it('peak_ewma lists each candidate cost, and picks the cheapest', () => {
    const p = picker(peakEwma, loaded());
    for (let i = 0; i < 200; i++) {
      const explanation = new RecordedExplanation();
      const id = chosen(p.pick({ tried: NONE_TRIED, hashKey: undefined, explain: explanation }));
      const cheapest = explanation.weighed.reduce((a, b) => ((a['cost'] as number) <= (b['cost'] as number) ? a : b));
      expect(id).toBe(cheapest.endpoint);
      expect(cheapest['ewma_ms']).toBe(30); // default_rtt before any answer
    }
  });

  for (const factory of [ringHash, maglev]) {
    it(`${factory.name} says where the key landed, and with bounded load why it walked on`, () => {
      const endpoints = loaded();
      const total = endpoints.reduce((sum, endpoint) => sum + endpoint.activeRequests, 0);
      const p = picker(factory, endpoints, { hash_balance_factor: 100 }, () => total);
      let walked = 0;
      for (const hashKey of KEYS.slice(0, 300)) {
        const explanation = new RecordedExplanation();
        const id = chosen(p.pick({ tried: NONE_TRIED, hashKey, explain: explanation }));
        expect(explanation.steps[0]).toMatchObject({ fact: 'landed', value: { hash_key: hashKey, endpoint: explanation.weighed[0]?.endpoint } });
        // Capacity ceil(1.0 · 11 / 5) = 3: only endpoints with under 3 requests in flight take it.
        const taken = explanation.weighed.find((entry) => entry['under_capacity'] === true);
        expect(taken).toMatchObject({ endpoint: id, capacity: 3 });
        expect((taken?.['active_requests'] as number) + 1).toBeLessThanOrEqual(3);
        if (explanation.weighed.length > 1) walked++;
      }
      expect(walked).toBeGreaterThan(0);
    });
  }

  it('round_robin and random name the endpoint they took', () => {
    for (const factory of [roundRobin, random]) {
      const p = picker(factory, loaded());
      for (let i = 0; i < 20; i++) {
        const explanation = new RecordedExplanation();
        const id = chosen(p.pick({ tried: NONE_TRIED, hashKey: undefined, explain: explanation }));
        expect((explanation.steps[0]?.value as { endpoint: string }).endpoint).toBe(id);
      }
    }
  });
});
