import type { WindowSummary } from './slidingWindow.js';
import type { UpstreamStats } from './upstreamStats.js';

/** What `/stats` says of an endpoint, `tandem stat --endpoints` shows and `--json` prints. */
export interface EndpointStatsView {
  readonly endpoint: string;
  readonly health: string;
  readonly eligible: boolean;
  readonly ejected: boolean;
  readonly active_requests: number;
  readonly requests_per_second: number;
  readonly success_rate: number | null;
  readonly latency_ms: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
}

/** What `/stats` says of an upstream over the window. */
export interface UpstreamStatsView {
  readonly upstream: string;
  readonly window_seconds: number;
  readonly requests_per_second: number;
  readonly success_rate: number | null;
  readonly latency_ms: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
  readonly active_requests: number;
  readonly endpoints_healthy: number;
  readonly endpoints_total: number;
  readonly endpoints_ejected: number;
  readonly retries_per_second: number;
  readonly overflows_per_second: number;
  readonly endpoints?: readonly EndpointStatsView[];
}

interface EndpointState {
  readonly id: string;
  readonly eligible: boolean;
  readonly ejected: boolean;
  readonly health: string;
  readonly activeRequests: number;
}

/** Rates per second rounded to 0.01, shares to 0.0001, latencies to 0.01 ms: enough for a table, stable for tests. */
const round = (value: number, places: number): number => Math.round(value * 10 ** places) / 10 ** places;

function latency(summary: WindowSummary | undefined): UpstreamStatsView['latency_ms'] {
  const ms = (value: number | undefined): number | null => (value === undefined || !Number.isFinite(value) ? null : round(value, 2));
  return { p50: ms(summary?.p50Ms), p95: ms(summary?.p95Ms), p99: ms(summary?.p99Ms) };
}

/** One upstream's `/stats` entry over the last `windowS` seconds. */
export function upstreamStatsView(upstream: string, stats: UpstreamStats, endpoints: readonly EndpointState[], windowS: number, withEndpoints: boolean): UpstreamStatsView {
  const requests = stats.requests.summary(windowS);
  return {
    upstream,
    window_seconds: windowS,
    requests_per_second: round(requests.requestsPerSecond, 2),
    success_rate: requests.successRate === undefined ? null : round(requests.successRate, 4),
    latency_ms: latency(requests),
    active_requests: endpoints.reduce((total, endpoint) => total + endpoint.activeRequests, 0),
    endpoints_healthy: endpoints.filter((endpoint) => endpoint.eligible).length,
    endpoints_total: endpoints.length,
    endpoints_ejected: endpoints.filter((endpoint) => endpoint.ejected).length,
    retries_per_second: round(stats.retries.summary(windowS).requestsPerSecond, 2),
    overflows_per_second: round(stats.overflows.summary(windowS).requestsPerSecond, 2),
    ...(withEndpoints
      ? {
          endpoints: endpoints.map((endpoint) => {
            const summary = stats.endpoint(endpoint.id, windowS);
            return {
              endpoint: endpoint.id,
              health: endpoint.health,
              eligible: endpoint.eligible,
              ejected: endpoint.ejected,
              active_requests: endpoint.activeRequests,
              requests_per_second: round(summary?.requestsPerSecond ?? 0, 2),
              success_rate: summary?.successRate === undefined ? null : round(summary.successRate, 4),
              latency_ms: latency(summary),
            };
          }),
        }
      : {}),
  };
}
