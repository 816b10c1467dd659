import { Histogram, Registry, type OpenMetricsContentType } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BoundHistogram } from '../../../../sidecar/observe/boundHistogram.js';
import { exposition } from '../../../../sidecar/observe/exposition.js';
import { REQUEST_DURATION_BUCKETS } from '../../../../sidecar/observe/requestMetrics.js';

const LABELS = ['route', 'code'] as const;
type Label = (typeof LABELS)[number];

/** The same histogram twice: prom-client's own (exemplars on, as Tandem had it) and Tandem's bound one. */
/** An OpenMetrics registry, as Tandem's is: prom-client keeps exemplars only there. */
function openMetricsRegistry(): Registry<OpenMetricsContentType> {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return registry;
}

function pair(): { theirs: Histogram<Label>; ours: BoundHistogram<Label>; registries: [Registry<OpenMetricsContentType>, Registry<OpenMetricsContentType>] } {
  const theirsRegistry = openMetricsRegistry();
  const oursRegistry = openMetricsRegistry();
  const config = { name: 'duration_seconds', help: 'How long.', labelNames: LABELS, buckets: REQUEST_DURATION_BUCKETS };
  const theirs = new Histogram({ ...config, labelNames: [...LABELS], buckets: [...REQUEST_DURATION_BUCKETS], enableExemplars: true, registers: [theirsRegistry] });
  const ours = new BoundHistogram({ ...config, registers: [oursRegistry] });
  return { theirs, ours, registries: [theirsRegistry, oursRegistry] };
}

/** Exemplar timestamps are the observation's wall clock: the one thing the two cannot share. */
const withoutTimestamps = (text: string): string => text.replace(/( # \{[^}]*\} [0-9.e-]+) [0-9.]+$/gm, '$1');

describe('a bound histogram', () => {
  it('is exposed exactly as prom-client\'s Histogram with exemplars is, in both formats, for the same observations', async () => {
    const { theirs, ours, registries } = pair();
    const values = [0.00005, 0.0001, 0.0003, 0.002, 0.002, 0.04, 0.7, 3, 31, 120, 0];
    const fast = ours.bind({ route: 'a', code: '2xx' });
    const slow = ours.bind({ route: 'b', code: '5xx' });
    values.forEach((value, index) => {
      const exemplar = index % 3 === 0 ? { trace_id: `t${index}`, span_id: `s${index}` } : undefined;
      const [labels, series] = index % 2 === 0 ? [{ route: 'a', code: '2xx' }, fast] : [{ route: 'b', code: '5xx' }, slow];
      // prom-client types exemplar labels as the metric's own label names; it takes any at run time.
      theirs.observe(exemplar === undefined ? { labels, value } : { labels, value, exemplarLabels: exemplar as unknown as Record<Label, string> });
      series.observe(value, exemplar);
    });
    for (const format of ['prometheus', 'openmetrics'] as const) {
      const [expected, actual] = (await Promise.all(registries.map((registry) => exposition(registry, format)))) as [string, string];
      expect(withoutTimestamps(actual)).toBe(withoutTimestamps(expected));
      // Not two empty texts: the series, and in OpenMetrics their exemplars, are there.
      expect(actual).toContain('duration_seconds_bucket{le="0.0001",route="a",code="2xx"} 2');
      if (format === 'openmetrics') expect(actual).toMatch(/duration_seconds_bucket\{le="0.0001",route="a",code="2xx"\} 2 # \{trace_id="t0",span_id="s0"\} 0.00005/);
    }
  });

  it('counts two bindings of the same labels into one series, and a removed series leaves the exposition', async () => {
    const { ours, registries } = pair();
    ours.bind({ route: 'a', code: '2xx' }).observe(0.001);
    ours.bind({ route: 'a', code: '2xx' }).observe(0.001);
    const gone = ours.bind({ route: 'b', code: '2xx' });
    gone.observe(1);
    let text = await exposition(registries[1], 'prometheus');
    expect(text).toContain('duration_seconds_count{route="a",code="2xx"} 2');
    expect(text).toContain('duration_seconds_count{route="b",code="2xx"} 1');
    gone.remove();
    text = await exposition(registries[1], 'prometheus');
    expect(text).not.toContain('route="b"');
  });
});
