import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../sidecar/config/load.js';
import { configProblems } from '../../../helpers/config.js';
import { routeMatches } from '../../../../sidecar/config/routeConfig.js';

const staticDiscovery = { static: { file: './endpoints.yaml' } };

function problems(upstream: Record<string, unknown>): readonly string[] {
  return configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'orders', ...upstream }] });
}

describe('upstream resilience configuration', () => {
  it('fills in safe defaults: 15 s to the head, 5 min idle, 2 retries in a budget, breakers, outlier detection on, no active checks', () => {
    const upstream = parseConfig({ discovery: staticDiscovery, upstreams: [{ name: 'orders' }] }).config.upstreams[0];
    expect(upstream?.timeout.ms).toBe(15_000);
    expect(upstream?.stream_idle_timeout.ms).toBe(300_000);
    expect(upstream?.retry.num_retries).toBe(2);
    expect(upstream?.retry.budget).toMatchObject({ retry_ratio: 0.2, min_retries_per_second: 10 });
    expect(upstream?.circuit_breaker).toEqual({ max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 1024 });
    expect(upstream?.outlier_detection).toMatchObject({ enabled: true, consecutive_5xx: 5, max_ejection_percent: 10 });
    expect(upstream?.health_check).toBeUndefined();
    expect(upstream?.routes).toEqual([]);
  });

  it("judges a route's retry policy after merging the upstream's, naming the route's field", () => {
    expect(problems({ routes: [{ match: { prefix: '/a' }, retry: { retry_on: ['retriable-status-codes'] } }] })).toEqual([
      expect.stringContaining('upstreams[0].routes[0].retry.retriable_status_codes'),
    ]);
    expect(() =>
      parseConfig({
        discovery: staticDiscovery,
        upstreams: [{ name: 'orders', retry: { retriable_status_codes: [409] }, routes: [{ retry: { retry_on: ['retriable-status-codes'] } }] }],
      }),
    ).not.toThrow();
  });

  it('rejects a route matching on both prefix and path, and a lower-case method', () => {
    expect(problems({ routes: [{ match: { prefix: '/a', path: '/b' } }] })).toEqual([expect.stringContaining('upstreams[0].routes[0].match')]);
    expect(problems({ routes: [{ match: { method: 'post' } }] })).toEqual([expect.stringContaining('upstreams[0].routes[0].match.method')]);
  });
});

describe('route matching', () => {
  it('matches a prefix or an exact path, ignoring the query, and an optional method', () => {
    expect(routeMatches({ prefix: '/orders.Orders/' }, 'POST', '/orders.Orders/Place')).toBe(true);
    expect(routeMatches({ prefix: '/orders.Orders/' }, 'POST', '/billing.Billing/Pay')).toBe(false);
    expect(routeMatches({ path: '/health' }, 'GET', '/health?verbose=1')).toBe(true);
    expect(routeMatches({ path: '/health' }, 'GET', '/healthz')).toBe(false);
    expect(routeMatches({ prefix: '/', method: 'POST' }, 'GET', '/x')).toBe(false);
    expect(routeMatches({}, 'GET', '/anything')).toBe(true);
  });
});
