import { describe, expect, it } from 'vitest';
import type { EndpointSpec, Resolver, ResolverListener } from '../../../../discovery/resolver.js';
import { Cluster } from '../../../../sidecar/cluster/cluster.js';
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
