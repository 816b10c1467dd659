import { describe, expect, it } from 'vitest';
import { mergeDocuments, sumExpositions } from '../../../../sidecar/workers/aggregate.js';

const worker = (requests: number, seconds: number, lag: number): string =>
  [
    '# HELP tandem_requests_total Requests.',
    '# TYPE tandem_requests_total counter',
    `tandem_requests_total{listener="outbound.web",status_class="2xx"} ${requests}`,
    '# HELP tandem_request_duration_seconds Duration.',
    '# TYPE tandem_request_duration_seconds histogram',
    `tandem_request_duration_seconds_bucket{le="0.005"} ${requests - 1}`,
    `tandem_request_duration_seconds_bucket{le="+Inf"} ${requests}`,
    `tandem_request_duration_seconds_sum ${seconds}`,
    `tandem_request_duration_seconds_count ${requests}`,
    '# HELP nodejs_eventloop_lag_seconds Lag.',
    '# TYPE nodejs_eventloop_lag_seconds gauge',
    `nodejs_eventloop_lag_seconds ${lag}`,
    '',
  ].join('\n');

describe('sumExpositions', () => {
  it('sums counters and histogram series sample by sample, keeping one HELP and TYPE per family', () => {
    const summed = sumExpositions([worker(10, 0.5, 0.002), worker(32, 0.25, 0.001)]);
    expect(summed).toBe(
      [
        '# HELP tandem_requests_total Requests.',
        '# TYPE tandem_requests_total counter',
        'tandem_requests_total{listener="outbound.web",status_class="2xx"} 42',
        '# HELP tandem_request_duration_seconds Duration.',
        '# TYPE tandem_request_duration_seconds histogram',
        'tandem_request_duration_seconds_bucket{le="0.005"} 40',
        'tandem_request_duration_seconds_bucket{le="+Inf"} 42',
        'tandem_request_duration_seconds_sum 0.75',
        'tandem_request_duration_seconds_count 42',
        '# HELP nodejs_eventloop_lag_seconds Lag.',
        '# TYPE nodejs_eventloop_lag_seconds gauge',
        'nodejs_eventloop_lag_seconds 0.002',
        '',
      ].join('\n'),
    );
  });

  it('takes the soonest certificate expiry and the earliest start, not their sum', () => {
    const a = 'tandem_identity_cert_expiry_seconds 500\nprocess_start_time_seconds 1700000010\n';
    const b = 'tandem_identity_cert_expiry_seconds 300\nprocess_start_time_seconds 1700000000\n';
    expect(sumExpositions([a, b])).toBe('tandem_identity_cert_expiry_seconds 300\nprocess_start_time_seconds 1700000000\n');
  });

  it('reads label values holding spaces, braces, hashes and escaped quotes', () => {
    const line = (value: number): string => `tandem_x_total{path="/a b}#\\"c\\"",le="+Inf"} ${value}\n`;
    expect(sumExpositions([line(1), line(2)])).toBe(line(3));
  });

  it('keeps a series only one worker has, and the last exemplar of an OpenMetrics bucket', () => {
    const a = 'b_bucket{le="1"} 1 # {trace_id="aa"} 0.5 1700000000.1\n# EOF\n';
    const b = 'b_bucket{le="1"} 2 # {trace_id="bb"} 0.7 1700000001.2\nonly_b 4\n# EOF\n';
    expect(sumExpositions([a, b])).toBe('b_bucket{le="1"} 3 # {trace_id="bb"} 0.7 1700000001.2\nonly_b 4\n# EOF\n');
  });
});

describe('mergeDocuments', () => {
  const endpoint = (active: number, total: number, ejected: boolean): object => ({ address: '10.0.0.1', port: 80, weight: 1, eligible: !ejected, ejected, active_requests: active, total_requests: total });
  const cluster = (active: number, total: number, ejected: boolean, used: number): object => ({
    name: 'web',
    synced: true,
    circuit_breakers: { requests: { used, limit: 1024, overflows: 1 } },
    outlier_detection: { ejected: ejected ? 1 : 0, ejections_total: ejected ? 1 : 0 },
    endpoints: [endpoint(active, total, ejected), { address: '10.0.0.2', port: 80, weight: 3, eligible: true, ejected: false, active_requests: 1, total_requests: 5 }],
  });

  it('sums what counts work and keeps configuration as it is', () => {
    expect(mergeDocuments([[cluster(2, 10, false, 2)], [cluster(3, 20, false, 3)]])).toEqual([
      {
        name: 'web',
        synced: true,
        circuit_breakers: { requests: { used: 5, limit: 1024, overflows: 2 } },
        outlier_detection: { ejected: 0, ejections_total: 0 },
        endpoints: [
          { address: '10.0.0.1', port: 80, weight: 1, eligible: true, ejected: false, active_requests: 5, total_requests: 30 },
          { address: '10.0.0.2', port: 80, weight: 3, eligible: true, ejected: false, active_requests: 2, total_requests: 10 },
        ],
      },
    ]);
  });

  it('calls an endpoint ejected, and not eligible, when any worker has ejected it', () => {
    const [merged] = mergeDocuments([[cluster(0, 1, false, 0)], [cluster(0, 1, true, 0)]]) as Array<{ endpoints: Array<{ ejected: boolean; eligible: boolean }>; outlier_detection: { ejected: number } }>;
    expect(merged?.endpoints[0]).toMatchObject({ ejected: true, eligible: false });
    expect(merged?.outlier_detection.ejected).toBe(1);
  });

  it('describes an endpoint one worker has ejected and another not yet as the worker that ejected it', () => {
    const outlier = (ejected: boolean) => ({ ejected, ejection_reason: ejected ? 'consecutive_5xx' : null, ejection_remaining_ms: ejected ? 29_000 : null, times_ejected: ejected ? 1 : 0 });
    const endpoint = (ejected: boolean, requests: number) => ({ address: '10.0.0.1', port: 80, ejected, total_requests: requests, outlier: outlier(ejected) });
    for (const order of [[false, true], [true, false]]) {
      const merged = mergeDocuments(order.map((ejected, index) => ({ endpoints: [endpoint(ejected, index + 1)] }))) as { endpoints: unknown[] };
      expect(merged.endpoints[0]).toEqual({ ...endpoint(true, 3), outlier: outlier(true) });
    }
  });

  it('weights success rates by requests and takes the worst latency quantile', () => {
    const stats = (rps: number, success: number | null, p99: number | null): object => ({ upstreams: [{ upstream: 'web', requests_per_second: rps, success_rate: success, latency_ms: { p50: 1, p95: 2, p99 } }] });
    expect(mergeDocuments([stats(30, 1, 4), stats(10, 0.5, null)])).toEqual({ upstreams: [{ upstream: 'web', requests_per_second: 40, success_rate: 0.875, latency_ms: { p50: 1, p95: 2, p99: 4 } }] });
  });
});
