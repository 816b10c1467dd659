import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../sidecar/config/load.js';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import { gatewayRouter } from '../../../../sidecar/gateway/gatewayRouter.js';
import { RequestContext } from '../../../../sidecar/http/context.js';
import type { Service } from '../../../../sidecar/http/message.js';
import { fakeRequest, seededRandom, type FakeRequestInit } from '../../../helpers/fakes.js';

/** What a route's service was sent, thrown back for the test to look at. */
class Sent extends Error {
  constructor(
    readonly upstream: string,
    readonly path: string,
    readonly overrides: unknown,
  ) {
    super('sent');
  }
}

/** A gateway over upstreams whose services fail with what they were sent (`Sent`); or the error code the router failed with. */
function router(routes: unknown[], random = seededRandom(1)): (init: FakeRequestInit) => Promise<Sent | string> {
  const { config } = parseConfig({
    discovery: { static: { file: './endpoints.yaml' } },
    upstreams: [{ name: 'web' }, { name: 'canary' }, { name: 'api' }],
    gateways: [{ name: 'edge', port: 8443, routes }],
  });
  const gateway = config.gateways[0] as (typeof config.gateways)[number];
  const service = gatewayRouter(gateway, (upstream, overrides): Service => (request) => Promise.reject(new Sent(upstream, request.path, overrides)), random);
  return async (init) => {
    const context = new RequestContext();
    try {
      await service(fakeRequest(init), context);
    } catch (error) {
      if (error instanceof TandemError) return error.code;
      if (!(error instanceof Sent)) throw error;
      expect(context.upstream).toBe(error.upstream);
      return error;
    }
    throw new Error('answered');
  };
}

describe('gateway router', () => {
  it('matches hosts exactly or by suffix wildcard, ignoring case and port', async () => {
    const route = router([
      { match: { host: 'shop.example.com' }, upstream: 'web' },
      { match: { host: '*.example.com' }, upstream: 'api' },
    ]);
    expect(await route({ authority: 'Shop.Example.com:8443' })).toMatchObject({ upstream: 'web' });
    expect(await route({ authority: 'a.b.example.com' })).toMatchObject({ upstream: 'api' });
    expect(await route({ authority: 'example.com' })).toBe(ErrorCode.NoRoute);
    expect(await route({ authority: 'badexample.com' })).toBe(ErrorCode.NoRoute);
  });

  it('matches paths by exact, prefix or whole-path regex (the query left out), method and headers', async () => {
    const route = router([
      { match: { path: '/health' }, upstream: 'api' },
      { match: { regex: '/items/[0-9]+' }, upstream: 'api' },
      { match: { prefix: '/v2/', method: 'POST', headers: [{ name: 'X-Canary', exact: 'yes' }] }, upstream: 'canary' },
      { match: { prefix: '/', headers: [{ name: 'x-debug', present: false }] }, upstream: 'web' },
    ]);
    expect(await route({ path: '/health?full=1' })).toMatchObject({ upstream: 'api' });
    expect(await route({ path: '/items/42' })).toMatchObject({ upstream: 'api' });
    expect(await route({ path: '/items/42/x' })).toMatchObject({ upstream: 'web' });
    expect(await route({ path: '/v2/a', method: 'POST', headers: { 'x-canary': 'yes' } })).toMatchObject({ upstream: 'canary' });
    expect(await route({ path: '/v2/a', method: 'GET', headers: { 'x-canary': 'yes' } })).toMatchObject({ upstream: 'web' });
    expect(await route({ path: '/v2/a', headers: { 'x-debug': '1' } })).toBe(ErrorCode.NoRoute);
  });

  it('rewrites the matched prefix, keeping the rest and the query', async () => {
    const route = router([{ match: { prefix: '/api/' }, upstream: 'api', prefix_rewrite: '/v1/' }]);
    expect(await route({ path: '/api/items?q=1' })).toMatchObject({ path: '/v1/items?q=1' });
  });

  it('gives a route its overrides and splits by weight, never to a weight of 0', async () => {
    const route = router([{ weighted: [{ upstream: 'web', weight: 3 }, { upstream: 'canary', weight: 1 }, { upstream: 'api', weight: 0 }], timeout: '2s' }]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 4_000; i++) {
      const answer = (await route({})) as Sent;
      counts[answer.upstream] = (counts[answer.upstream] ?? 0) + 1;
      expect((answer.overrides as { timeout?: { ms: number } }).timeout?.ms).toBe(2_000);
    }
    expect(counts['api']).toBeUndefined();
    expect(Math.abs((counts['canary'] ?? 0) / 4_000 - 0.25)).toBeLessThan(0.03);
  });
});
