import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Outcome } from '../../../../sidecar/balancer/balancer.js';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import { BoundHistogram } from '../../../../sidecar/observe/boundHistogram.js';
import { DeferredCounter } from '../../../../sidecar/observe/deferredMetrics.js';
import { EndpointRequestMetrics } from '../../../../sidecar/observe/endpointMetrics.js';

function families(): { registry: Registry; metrics: (cap: number) => EndpointRequestMetrics } {
  const registry = new Registry();
  const attempts = new DeferredCounter({ name: 'attempts', help: 'h', labelNames: ['upstream', 'endpoint', 'status_class', 'grpc_status'], registers: [registry] });
  const duration = new BoundHistogram({ name: 'duration', help: 'h', labelNames: ['upstream', 'endpoint', 'status_class'], buckets: [1], registers: [registry] });
  return { registry, metrics: (cap) => new EndpointRequestMetrics('svc', { attempts, duration }, cap) };
}

const ok: Outcome = { status: 200, grpcStatus: undefined, error: undefined, success: true, latencyMs: 5, timeToHeadMs: 1 };

async function counts(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('attempts')?.get();
  return Object.fromEntries((metric?.values ?? []).map((value) => [`${String(value.labels['endpoint'])} ${String(value.labels['status_class'])} ${String(value.labels['grpc_status'])}`, value.value]));
}

describe('endpoint request metrics', () => {
  it('gives the first endpoints up to the cap series of their own and folds the rest into endpoint="other"', async () => {
    const { registry, metrics } = families();
    const endpoints = metrics(2);
    for (const id of ['a:1', 'b:1', 'c:1', 'd:1', 'a:1']) endpoints.record(id, ok, false);
    expect(await counts(registry)).toEqual({ 'a:1 2xx ': 2, 'b:1 2xx ': 1, 'other 2xx ': 2 });
  });

  it('frees the place of an endpoint discovery removed, dropping its series', async () => {
    const { registry, metrics } = families();
    const endpoints = metrics(2);
    endpoints.record('a:1', ok, false);
    endpoints.record('b:1', ok, false);
    endpoints.keepOnly(new Set(['a:1', 'c:1']));
    endpoints.record('c:1', ok, false);
    expect(await counts(registry)).toEqual({ 'a:1 2xx ': 1, 'c:1 2xx ': 1 });
  });

  it('counts an attempt without a response by what its error maps to, for gRPC too', async () => {
    const { registry, metrics } = families();
    const endpoints = metrics(10);
    const refused = new TandemError(ErrorCode.ConnectFailure, 'refused');
    endpoints.record('a:1', { ...ok, status: undefined, error: refused, success: false }, false);
    endpoints.record('a:1', { ...ok, status: undefined, error: refused, success: false }, true);
    endpoints.record('a:1', { ...ok, grpcStatus: 99 }, true);
    expect(await counts(registry)).toEqual({ 'a:1 5xx ': 1, 'a:1 2xx 14': 1, 'a:1 2xx 2': 1 });
  });
});
