import { describe, expect, it } from 'vitest';
import { describeIssues } from '../../../../sidecar/config/issues.js';
import { setup } from '../../../../sidecar/setup.js';
import { ActiveHealthCheckConfig, HealthCheckConfig } from '../../../../sidecar/health/healthCheckConfig.js';

setup(); // the built-in plugins, as the CLI registers them

function issues(input: unknown): Array<{ path: PropertyKey[]; message: string }> {
  const result = ActiveHealthCheckConfig.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({ path: issue.path, message: issue.message }));
}

describe('ActiveHealthCheckConfig', () => {
  it('fills Envoy-style defaults around the chosen checker', () => {
    const settings = ActiveHealthCheckConfig.parse({ http: { path: '/health' } });
    expect(JSON.parse(JSON.stringify(settings))).toEqual({
      kind: 'http',
      config: { path: '/health', expected_statuses: [[200, 299]] },
      timeout: '1s',
      interval: '5s',
      unhealthy_threshold: 3,
      healthy_threshold: 2,
      initial_jitter: '0s',
      interval_jitter: '0s',
    });
    const tuned = ActiveHealthCheckConfig.parse({ grpc: { service_name: 'orders' }, timeout: '200ms', interval: '1s', unhealthy_threshold: 1, healthy_threshold: 4, initial_jitter: '2s', interval_jitter: '100ms' });
    expect([tuned.timeout.ms, tuned.interval.ms, tuned.unhealthy_threshold, tuned.healthy_threshold, tuned.initial_jitter.ms, tuned.interval_jitter.ms]).toEqual([200, 1_000, 1, 4, 2_000, 100]);
    expect(tuned.config).toEqual({ service_name: 'orders' });
  });

  it('rejects a timeout longer than the interval, on the timeout', () => {
    expect(issues({ tcp: {}, timeout: '6s' })).toEqual([{ path: ['timeout'], message: 'must not exceed interval (5s)' }]);
    expect(issues({ tcp: {}, timeout: '2s', interval: '2s' })).toEqual([]);
  });

  it('reports an unknown key by name, beside a known checker kind', () => {
    const result = ActiveHealthCheckConfig.safeParse({ http: {}, intervall: '5s' });
    expect(result.success).toBe(false);
    expect(result.error?.issues).toMatchObject([{ code: 'unrecognized_keys', keys: ['intervall'], path: [] }]);
    expect(describeIssues(result.error as NonNullable<typeof result.error>, ['upstreams', 0, 'health_check'])).toEqual(['upstreams[0].health_check.intervall: unknown key']);
    expect(issues({ nope: {} })).toEqual([{ path: ['nope'], message: 'unknown health check kind; expected one of: tcp, http, grpc' }]);
    expect(issues({ tcp: {}, http: {} })).toEqual([{ path: [], message: 'expected exactly one health check kind (tcp, http, grpc), got 2' }]);
  });

  it('names the field of each bad value', () => {
    const paths = issues({ http: { path: 'health' }, interval: '0s', unhealthy_threshold: 0, healthy_threshold: 1.5, initial_jitter: 'soon' }).map((issue) => issue.path);
    expect(paths).toEqual([['http', 'path'], ['interval'], ['unhealthy_threshold'], ['healthy_threshold'], ['initial_jitter']]);
    const result = ActiveHealthCheckConfig.safeParse({ tcp: {}, unhealthy_threshold: 0 });
    expect(describeIssues(result.error as NonNullable<typeof result.error>, ['upstreams', 0, 'health_check'])).toEqual(['upstreams[0].health_check.unhealthy_threshold: must be >= 1']);
  });
});

describe('HealthCheckConfig', () => {
  it('still parses a one-off check: kind, config and timeout only', () => {
    expect(JSON.parse(JSON.stringify(HealthCheckConfig.parse({ tcp: {} })))).toEqual({ kind: 'tcp', config: {}, timeout: '1s' });
    expect(HealthCheckConfig.safeParse({ tcp: {}, interval: '5s' }).error?.issues).toMatchObject([{ code: 'unrecognized_keys', keys: ['interval'] }]);
  });
});
