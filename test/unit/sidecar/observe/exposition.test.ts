import { Counter, Gauge, Histogram, Registry, type OpenMetricsContentType } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { exposition, prefersOpenMetrics } from '../../../../sidecar/observe/exposition.js';

function registry(): Registry<OpenMetricsContentType> {
  const r = new Registry<OpenMetricsContentType>();
  r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return r;
}

describe('exposition', () => {
  it('writes counters as OpenMetrics families without _total and samples with it, and keeps the Prometheus names', async () => {
    const r = registry();
    new Counter({ name: 'calls_total', help: 'Calls "made"\nby \\ path.', labelNames: ['path'], registers: [r] }).inc({ path: 'a"b\\c\nd' }, 2);
    expect(await exposition(r, 'openmetrics')).toBe(
      ['# HELP calls Calls \\"made\\"\\nby \\\\ path.', '# TYPE calls counter', 'calls_total{path="a\\"b\\\\c\\nd"} 2', '# EOF', ''].join('\n'),
    );
    expect(await exposition(r, 'prometheus')).toBe(
      ['# HELP calls_total Calls "made"\\nby \\\\ path.', '# TYPE calls_total counter', 'calls_total{path="a\\"b\\\\c\\nd"} 2', ''].join('\n'),
    );
  });

  it('puts an exemplar on the bucket an observation fell in, in OpenMetrics only', async () => {
    const r = registry();
    const histogram = new Histogram({ name: 'latency_seconds', help: 'h', buckets: [0.1, 1], enableExemplars: true, registers: [r] });
    histogram.observe({ value: 0.5, exemplarLabels: { trace_id: 'abc' } });
    const text = await exposition(r, 'openmetrics');
    expect(text).toMatch(/^latency_seconds_bucket\{le="1"\} 1 # \{trace_id="abc"\} 0\.5 \d+(\.\d+)?$/m);
    expect(text).toContain('latency_seconds_bucket{le="0.1"} 0\n');
    expect(text).toContain('latency_seconds_bucket{le="+Inf"} 1\n');
    expect(await exposition(r, 'prometheus')).not.toContain('trace_id');
    expect(await exposition(r, 'prometheus')).toContain('latency_seconds_bucket{le="1"} 1\n');
  });

  it('writes non-finite values as the formats spell them', async () => {
    const r = registry();
    const gauge = new Gauge({ name: 'g', help: 'h', labelNames: ['k'], registers: [r] });
    gauge.set({ k: 'nan' }, NaN);
    gauge.set({ k: 'inf' }, Infinity);
    gauge.set({ k: 'minus' }, -Infinity);
    expect(await exposition(r, 'prometheus')).toContain('g{k="nan"} NaN\ng{k="inf"} +Inf\ng{k="minus"} -Inf\n');
  });
});

describe('prefersOpenMetrics', () => {
  it.each([
    ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', true],
    ['application/openmetrics-text; version=1.0.0', true],
    ['text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5', false],
    ['*/*', false],
    ['application/openmetrics-text;q=0', false],
    [undefined, false],
  ])('Accept %s → OpenMetrics %s', (accept, expected) => {
    expect(prefersOpenMetrics(accept)).toBe(expected);
  });
});
