import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../../helpers/backends.js';
import { h1Request } from '../../helpers/clients.js';
import { parseOpenMetrics, type OpenMetricsFamily } from '../../helpers/openMetrics.js';
import { startOtlpReceiver } from '../../helpers/otlpReceiver.js';
import { parsePrometheusText } from '../../helpers/prometheus.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';

/** What Prometheus 2.x and 3.x send when they scrape. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

async function scrape(mesh: TestSidecar, accept?: string): Promise<{ contentType: string; body: string }> {
  const response = await h1Request(mesh.port('admin'), { path: '/metrics', headers: accept === undefined ? {} : { accept } });
  return { contentType: String(response.headers['content-type']), body: response.body.toString() };
}

function exemplarsOf(families: readonly OpenMetricsFamily[], family: string): Array<{ trace_id: string; span_id: string }> {
  const samples = families.find((f) => f.name === family)?.samples ?? [];
  return samples.flatMap((sample) => (sample.exemplar === null ? [] : [sample.exemplar.labels as { trace_id: string; span_id: string }]));
}

async function tracedSidecar(sampleRatio: number): Promise<{ mesh: TestSidecar; otlp: Awaited<ReturnType<typeof startOtlpReceiver>> }> {
  const otlp = await startOtlpReceiver();
  const backend = await startHttp1Backend((_req, res) => res.end('web'));
  const mesh = await startSidecar({ tracing: { otlp_endpoint: otlp.endpoint, sample_ratio: sampleRatio }, upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
  return { mesh, otlp };
}

describe('trace exemplars', () => {
  it('serves OpenMetrics to a scraper that asks for it, duration buckets pointing at the sampled SERVER and CLIENT spans', async () => {
    const { mesh, otlp } = await tracedSidecar(1);
    for (let i = 0; i < 5; i++) expect((await h1Request(mesh.port('outbound.web'))).status).toBe(200);

    const openMetrics = await scrape(mesh, PROMETHEUS_ACCEPT);
    expect(openMetrics.contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    // The whole exposition, Node's process metrics included, passes the reference parser.
    const families = await parseOpenMetrics(openMetrics.body);
    const requests = families.find((family) => family.name === 'tandem_requests');
    expect(requests?.type).toBe('counter');
    expect(requests?.samples.find((sample) => sample.labels['upstream'] === 'web')).toMatchObject({ name: 'tandem_requests_total', value: 5 });

    const serverExemplars = exemplarsOf(families, 'tandem_request_duration_seconds');
    const clientExemplars = exemplarsOf(families, 'tandem_upstream_request_duration_seconds');
    expect(serverExemplars.length).toBeGreaterThan(0);
    expect(clientExemplars.length).toBeGreaterThan(0);

    await mesh.sidecar.stop(); // flushes the spans
    const spans = otlp.spans();
    for (const exemplar of serverExemplars) expect(spans.find((span) => span.spanId === exemplar.span_id)).toMatchObject({ kind: 'server', traceId: exemplar.trace_id });
    for (const exemplar of clientExemplars) expect(spans.find((span) => span.spanId === exemplar.span_id)).toMatchObject({ kind: 'client', traceId: exemplar.trace_id });
  });

  it('keeps the Prometheus text format, unchanged by an OpenMetrics scrape, for scrapers that do not ask', async () => {
    const { mesh } = await tracedSidecar(1);
    await h1Request(mesh.port('outbound.web'));
    await scrape(mesh, PROMETHEUS_ACCEPT);
    for (const accept of [undefined, 'text/plain;version=0.0.4', 'application/openmetrics-text;q=0.1,text/plain']) {
      const text = await scrape(mesh, accept);
      expect(text.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(text.body).not.toContain('trace_id');
      const samples = parsePrometheusText(text.body);
      expect(samples.find((sample) => sample.name === 'tandem_requests_total' && sample.labels['upstream'] === 'web')?.value).toBe(1);
    }
  });

  it('gives no exemplar for requests that were not sampled', async () => {
    const { mesh } = await tracedSidecar(0);
    for (let i = 0; i < 5; i++) await h1Request(mesh.port('outbound.web'));
    const families = await parseOpenMetrics((await scrape(mesh, PROMETHEUS_ACCEPT)).body);
    expect(families.find((family) => family.name === 'tandem_request_duration_seconds')?.samples.some((sample) => sample.name === 'tandem_request_duration_seconds_count' && sample.value === 5)).toBe(true);
    expect(exemplarsOf(families, 'tandem_request_duration_seconds')).toEqual([]);
    expect(exemplarsOf(families, 'tandem_upstream_request_duration_seconds')).toEqual([]);
  });
});
