import { adminRequest } from '../admin/adminClient.js';
import { sleep } from '../core/sleep.js';
import type { UpstreamStatsView } from '../observe/statsView.js';
import { ExitCode } from './exitCodes.js';

const REFRESH_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;

export interface StatOptions {
  readonly admin: string;
  readonly windowS: number;
  readonly endpoints: boolean;
  readonly json: boolean;
}

/**
 * `tandem stat` (Linkerd's `viz stat` for one sidecar): a table per upstream — requests/s, success,
 * latency quantiles, requests in flight, healthy/total endpoints, ejections, retries/s, breaker
 * overflows/s — over the last `--window` seconds, from the sidecar's `GET /stats`, redrawn every
 * second until interrupted. `--json` prints one snapshot and exits.
 */
export async function statCommand(options: StatOptions): Promise<number> {
  let url: URL;
  try {
    url = new URL(`/stats?window=${options.windowS}s&endpoints=${options.endpoints}`, options.admin);
    if (url.protocol !== 'http:') throw new Error('expected an http:// URL');
  } catch (error) {
    process.stderr.write(`tandem stat: --admin: ${(error as Error).message} (got "${options.admin}")\n`);
    return ExitCode.Usage;
  }
  for (;;) {
    let upstreams: readonly UpstreamStatsView[];
    try {
      upstreams = ((await fetchJson(url)) as { upstreams: UpstreamStatsView[] }).upstreams;
    } catch (error) {
      process.stderr.write(`tandem stat: cannot read ${url.origin}/stats: ${(error as Error).message}\n`);
      return ExitCode.Failure;
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ upstreams }, null, 2)}\n`);
      return ExitCode.Ok;
    }
    const screen = render(upstreams, options);
    process.stdout.write(process.stdout.isTTY ? `\x1b[H\x1b[2J${screen}` : `${screen}\n`);
    await sleep(REFRESH_MS);
  }
}

function render(upstreams: readonly UpstreamStatsView[], options: StatOptions): string {
  const rows: string[][] = [['UPSTREAM', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99', 'ACTIVE', 'ENDPOINTS', 'EJECTED', 'RETRIES/S', 'OVERFLOWS/S']];
  for (const upstream of upstreams) {
    rows.push([
      upstream.upstream,
      upstream.requests_per_second.toFixed(1),
      percent(upstream.success_rate),
      ms(upstream.latency_ms.p50),
      ms(upstream.latency_ms.p95),
      ms(upstream.latency_ms.p99),
      String(upstream.active_requests),
      `${upstream.endpoints_healthy}/${upstream.endpoints_total}`,
      String(upstream.endpoints_ejected),
      upstream.retries_per_second.toFixed(1),
      upstream.overflows_per_second.toFixed(1),
    ]);
    for (const endpoint of upstream.endpoints ?? []) {
      rows.push([
        `  ${endpoint.endpoint}`,
        endpoint.requests_per_second.toFixed(1),
        percent(endpoint.success_rate),
        ms(endpoint.latency_ms.p50),
        ms(endpoint.latency_ms.p95),
        ms(endpoint.latency_ms.p99),
        String(endpoint.active_requests),
        endpoint.eligible ? 'eligible' : endpoint.health,
        endpoint.ejected ? 'yes' : '',
        '',
        '',
      ]);
    }
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const lines = rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  '));
  return `${lines.join('\n')}\n\nlast ${options.windowS}s, refreshed every second — Ctrl-C to stop\n`;
}

function percent(rate: number | null): string {
  return rate === null ? '-' : `${(rate * 100).toFixed(2)}%`;
}

function ms(value: number | null): string {
  return value === null ? '-' : `${value < 10 ? value.toFixed(2) : value.toFixed(0)}ms`;
}

async function fetchJson(url: URL): Promise<unknown> {
  const answer = await adminRequest(url, { timeoutMs: REQUEST_TIMEOUT_MS });
  if (answer.status !== 200) throw new Error(`${answer.status} ${answer.body.trim()}`);
  return JSON.parse(answer.body);
}
