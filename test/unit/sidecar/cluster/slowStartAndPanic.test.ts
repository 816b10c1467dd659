import { describe, expect, it } from 'vitest';
import type { EndpointSpec, Resolver, ResolverListener } from '../../../../discovery/resolver.js';
import { hash53 } from '../../../../sidecar/balancer/support/xxhash64.js';
import { Cluster } from '../../../../sidecar/cluster/cluster.js';
import { slowStartFactor } from '../../../../sidecar/cluster/slowStart.js';
import { UpstreamSchema } from '../../../../sidecar/config/schema.js';
import { setup } from '../../../../sidecar/setup.js';
import { plaintextConnector } from '../../../../sidecar/upstream/connector.js';
import { onCleanup } from '../../../helpers/cleanup.js';
import { seededRandom } from '../../../helpers/fakes.js';

setup(); // the built-in plugins, as the CLI registers them

const spec = (port: number, health: EndpointSpec['health'] = 'healthy'): EndpointSpec => ({ address: '10.0.0.1', port, weight: 1, health, metadata: {} });

/** A cluster on a clock the test moves, fed by a resolver the test drives. */
function cluster(lb: Record<string, unknown>): { cluster: Cluster; listener: ResolverListener; clock: { now: number } } {
  let listener: ResolverListener | undefined;
  const resolver: Resolver = { start: (l) => (listener = l), stop: () => undefined };
  const clock = { now: 1_000 };
  const c = new Cluster(UpstreamSchema.parse({ name: 'web', lb }), {
    resolver,
    connector: plaintextConnector,
    random: seededRandom(11),
    now: () => clock.now,
  });
  c.start();
  onCleanup(() => c.close());
  return { cluster: c, listener: listener as ResolverListener, clock };
}

/** Share of `picks` that went to port `port`; hashing policies get a different key per pick. */
function share(c: Cluster, port: number, picks = 60_000): number {
  let hits = 0;
  for (let i = 0; i < picks; i++) {
    const result = c.pick({ tried: new Set(), hashKey: hash53(`key-${i}`) });
    if (result.kind !== 'ok') throw new Error(result.kind);
    if (result.endpoint.port === port) hits++;
  }
  return hits / picks;
}

describe('slow start factor', () => {
  it("follows Envoy's formula", () => {
    const config = { windowMs: 30_000, aggression: 1, minWeightPercent: 10 };
    expect(slowStartFactor(0, config)).toBe(0.1);
    expect(slowStartFactor(15_000, config)).toBe(0.5);
    expect(slowStartFactor(30_000, config)).toBe(1);
    expect(slowStartFactor(15_000, { ...config, aggression: 2 })).toBeCloseTo(Math.SQRT1_2, 10);
    expect(slowStartFactor(1_000, { ...config, windowMs: 0 })).toBe(1);
  });
});

/** EDF gives exact proportions; a ring adds the rounding of virtual nodes and of key placement. */
const TOLERANCE: Readonly<Record<string, number>> = { least_request: 0.005, ring_hash: 0.02 };

describe.each(['least_request', 'ring_hash'])('slow start with %s', (policy) => {
  const near = (actual: number, expected: number): void => expect(Math.abs(actual - expected)).toBeLessThan(TOLERANCE[policy] as number);

  it('gives a new endpoint its minimum share at once, about half its weight at mid-window and all of it after', () => {
    const { cluster: c, listener, clock } = cluster({ policy, slow_start: { window: '30s' } });
    listener.onUpdate({ kind: 'reset', endpoints: [spec(1), spec(2), spec(3)] }); // first answer: full weight
    listener.onUpdate({ kind: 'add', endpoints: [spec(4)] }); // t = 0 for endpoint 4

    // Weights 1, 1, 1 and 0.1 (min_weight_percent 10): share 0.1 / 3.1.
    near(share(c, 4), 0.1 / 3.1);
    expect(c.toJSON()).toMatchObject({ endpoints: [{ effective_weight: 1 }, { effective_weight: 1 }, { effective_weight: 1 }, { effective_weight: 0.1 }] });

    clock.now += 15_000;
    c.refresh();
    near(share(c, 4), 0.5 / 3.5);

    clock.now += 15_000;
    c.refresh();
    near(share(c, 4), 0.25);
    expect(c.toJSON()).toMatchObject({ endpoints: [{}, {}, {}, { effective_weight: 1 }] });
  });
});

describe('panic threshold', () => {
  it('spreads picks over all endpoints when 1 of 4 is eligible and the threshold is 50', () => {
    const { cluster: c, listener } = cluster({ policy: 'least_request', healthy_panic_threshold: 50 });
    listener.onUpdate({ kind: 'reset', endpoints: [spec(1), spec(2, 'unhealthy'), spec(3, 'unhealthy'), spec(4, 'unhealthy')] });
    for (const port of [1, 2, 3, 4]) expect(Math.abs(share(c, port, 20_000) - 0.25)).toBeLessThan(0.01);
    expect(c.toJSON()).toMatchObject({ panic: true });
  });

  it('balances over the healthy endpoints only once enough are healthy again', () => {
    const { cluster: c, listener } = cluster({ policy: 'least_request', healthy_panic_threshold: 50 });
    listener.onUpdate({ kind: 'reset', endpoints: [spec(1), spec(2, 'unhealthy'), spec(3, 'unhealthy'), spec(4, 'unhealthy')] });
    listener.onUpdate({ kind: 'add', endpoints: [spec(2)] });
    expect(share(c, 3, 5_000) + share(c, 4, 5_000)).toBe(0);
    expect(c.toJSON()).toMatchObject({ panic: false });
  });
});
