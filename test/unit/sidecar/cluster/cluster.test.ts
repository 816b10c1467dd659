import { describe, expect, it } from 'vitest';
import type { EndpointSpec, Resolver, ResolverListener } from '../../../../discovery/resolver.js';
import type { Outcome } from '../../../../sidecar/balancer/balancer.js';
import { Cluster } from '../../../../sidecar/cluster/cluster.js';
import type { Endpoint } from '../../../../sidecar/cluster/endpoint.js';
import { UpstreamSchema } from '../../../../sidecar/config/schema.js';
import { ErrorCode } from '../../../../sidecar/core/errors.js';
import { setup } from '../../../../sidecar/setup.js';
import { plaintextConnector } from '../../../../sidecar/upstream/connector.js';
import { seededRandom } from '../../../helpers/fakes.js';

setup(); // the built-in plugins, as the CLI registers them

/** A resolver the test drives by hand. */
function manualResolver(): Resolver & { listener(): ResolverListener; stopped: boolean } {
  let current: ResolverListener | undefined;
  const resolver = {
    stopped: false,
    start: (listener: ResolverListener) => (current = listener),
    stop: () => (resolver.stopped = true),
    listener: () => {
      if (current === undefined) throw new Error('not started');
      return current;
    },
  };
  return resolver;
}

const spec = (port: number, health: EndpointSpec['health'] = 'healthy'): EndpointSpec => ({ address: '127.0.0.1', port, weight: 1, health, metadata: {} });

function cluster(lb: Record<string, unknown> = {}): { cluster: Cluster; resolver: ReturnType<typeof manualResolver> } {
  const resolver = manualResolver();
  const c = new Cluster(UpstreamSchema.parse({ name: 'orders', lb }), { resolver, connector: plaintextConnector, random: seededRandom(7) });
  c.start();
  return { cluster: c, resolver };
}

const noneTried = { tried: new Set<string>(), hashKey: undefined };

describe('cluster', () => {
  it('queues picks until discovery first answers, then wakes waiters', async () => {
    const { cluster: c, resolver } = cluster();
    expect(c.pick(noneTried).kind).toBe('queue');
    expect(c.synced).toBe(false);
    const woken = c.waitForPicker(1_000);
    resolver.listener().onUpdate({ kind: 'reset', endpoints: [spec(1)] });
    expect(await woken).toBe(true);
    const pick = c.pick(noneTried);
    expect(pick.kind === 'ok' && pick.endpoint.port).toBe(1);
    expect(c.synced).toBe(true);
  });

  it('gives up waiting for a picker after the timeout', async () => {
    const { cluster: c } = cluster();
    expect(await c.waitForPicker(5)).toBe(false);
  });

  it('fails picks with a clear error when no endpoint is eligible (panic disabled)', () => {
    const { cluster: c, resolver } = cluster({ healthy_panic_threshold: 0 });
    resolver.listener().onUpdate({ kind: 'reset', endpoints: [spec(1, 'unhealthy'), spec(2, 'draining')] });
    const pick = c.pick(noneTried);
    if (pick.kind !== 'fail') throw new Error(`expected fail, got ${pick.kind}`);
    expect(pick.error.code).toBe(ErrorCode.NoHealthyEndpoint);
    expect(pick.error.message).toBe('upstream "orders" has no healthy endpoint (2 known, none eligible)');
  });

  it('fails picks when discovery reports an empty service', () => {
    const { cluster: c, resolver } = cluster();
    resolver.listener().onUpdate({ kind: 'reset', endpoints: [] });
    expect(c.pick(noneTried).kind).toBe('fail');
    expect(c.synced).toBe(true);
  });

  it('keeps its endpoints through a discovery error and shows the error', () => {
    const { cluster: c, resolver } = cluster();
    resolver.listener().onUpdate({ kind: 'reset', endpoints: [spec(1)] });
    resolver.listener().onError(new Error('file is broken'));
    expect(c.pick(noneTried).kind).toBe('ok');
    expect(c.toJSON()).toMatchObject({ name: 'orders', synced: true, discovery_error: 'file is broken', endpoints: [{ port: 1, eligible: true }] });
  });

  it('stops discovery and fails new picks once closed', () => {
    const { cluster: c, resolver } = cluster();
    resolver.listener().onUpdate({ kind: 'reset', endpoints: [spec(1)] });
    c.close();
    expect(resolver.stopped).toBe(true);
    const pick = c.pick(noneTried);
    expect(pick.kind === 'fail' && pick.error.code).toBe(ErrorCode.ShuttingDown);
  });
});

describe('cluster.explainPick', () => {
  const failed: Outcome = { status: 503, grpcStatus: undefined, error: undefined, success: false, latencyMs: 1, timeToHeadMs: 1 };

  it('says what keeps each endpoint out of rotation, and what the picker chose among the rest', () => {
    const resolver = manualResolver();
    const config = UpstreamSchema.parse({ name: 'orders', outlier_detection: { consecutive_5xx: 2, base_ejection_time: '30s' } });
    const c = new Cluster(config, { resolver, connector: plaintextConnector, random: seededRandom(7), now: () => 1_000 });
    c.start();
    resolver.listener().onUpdate({ kind: 'reset', endpoints: [spec(1), spec(2), spec(3, 'unhealthy'), spec(4, 'draining'), spec(5), spec(6)] });
    const ejected = c.routableEndpoint('127.0.0.1:1') as Endpoint;
    c.recordOutcome(ejected, failed);
    c.recordOutcome(ejected, failed);

    const decision = c.explainPick(undefined);
    expect(decision).toMatchObject({ policy: 'least_request', synced: true, panic: false, failure: null });
    expect(Object.fromEntries(decision.endpoints.map((e) => [e.endpoint.split(':')[1], e.excluded_by]))).toEqual({
      '1': ['ejected by outlier detection (consecutive_5xx), 30.0 s left'],
      '2': [],
      '3': ['discovery reports it unhealthy'],
      '4': ['draining (discovery): finishes what it has, takes nothing new'],
      '5': [],
      '6': [],
    });
    expect(decision.endpoints.filter((e) => e.routable).map((e) => e.endpoint)).toEqual(['127.0.0.1:2', '127.0.0.1:5', '127.0.0.1:6']);
    expect(decision.considered.map((e) => e.endpoint)).toContain(decision.chosen);
    expect(['127.0.0.1:2', '127.0.0.1:5', '127.0.0.1:6']).toContain(decision.chosen);
    c.close();
  });

  it('explains a pick that cannot be made: before discovery answers, and with nothing eligible', () => {
    const { cluster: c, resolver } = cluster({ healthy_panic_threshold: 0 });
    expect(c.explainPick(undefined)).toMatchObject({ synced: false, chosen: null, failure: 'discovery has not answered yet; requests wait for its first answer' });
    resolver.listener().onUpdate({ kind: 'reset', endpoints: [spec(1, 'unhealthy')] });
    expect(c.explainPick(undefined)).toMatchObject({ chosen: null, failure: 'upstream "orders" has no healthy endpoint (1 known, none eligible)' });
    c.close();
  });

  it('in panic, balances over endpoints it would otherwise exclude and says so', () => {
    const { cluster: c, resolver } = cluster();
    resolver.listener().onUpdate({ kind: 'reset', endpoints: [spec(1, 'unhealthy'), spec(2, 'unhealthy'), spec(3)] });
    const decision = c.explainPick(undefined);
    expect(decision.panic).toBe(true);
    expect(decision.endpoints.map((e) => [e.routable, e.excluded_by.length])).toEqual([
      [true, 1],
      [true, 1],
      [true, 0],
    ]);
    c.close();
  });
});
