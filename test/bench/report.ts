import type { ForeignName } from './foreignProxies.js';
import { fmt } from './format.js';
import type { ProfileSummary } from './profile.js';
import type { RuntimeUsage } from './runtimeStats.js';
import type { LoadResult } from './stats.js';

/**
 * What `npm run bench` measured, and how it reads: the result types, the targets of the performance
 * issue judged against them, and the markdown table docs/benchmarks.md quotes.
 */

export type TargetName = 'direct' | 'tandem' | 'minimal' | ForeignName;

export interface ProcessUsage {
  readonly cpuMicros: number;
  readonly cpuMicrosPerRequest: number;
  /** RSS at the end of the measured run, and the process's peak so far. */
  readonly rssMB: number;
  readonly peakRssMB: number;
}

export interface TargetResult {
  readonly target: TargetName;
  readonly load: LoadResult;
  /** The proxy process (none for direct). */
  readonly proxy: ProcessUsage | null;
  /** The proxy's RSS once started, before any request (none for direct). */
  readonly proxyStartRssMB: number | null;
  /** What V8 did in the proxy over the measured run (Tandem and the minimal Node pipe only). */
  readonly runtime: RuntimeUsage | null;
  readonly backend: ProcessUsage;
  /** CPU of the load-generator process over the measured run. */
  readonly loadGenerator: { readonly cpuMicros: number; readonly cpuMicrosPerRequest: number };
  /**
   * The whole machine during the measured run, as % of all its cores: everything busy, and what
   * processes outside the benchmark (other than load generator, backend, proxy, harness) used.
   */
  readonly machine: { readonly busyPercent: number; readonly otherPercent: number };
  readonly loadavgBefore: readonly number[];
  readonly loadavgAfter: readonly number[];
}

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly load: string;
  readonly kind: 'saturation' | 'fixed-rate';
  readonly results: TargetResult[];
  readonly errors: string[];
  readonly skipped?: string;
  readonly profiles: ProfileSummary[];
}

/** The performance issue's targets (docs/benchmarks.md): added latency at a fixed rate, CPU per request against the other proxies. */
export const TARGETS = {
  addedP50Ms: 0.15,
  addedP99Ms: 0.5,
  addedP999Ms: 2,
  cpuRatioToMinimal: 0.8,
  cpuRatioToHaproxyH1: 3,
  cpuRatioToNghttpxH2c: 6,
} as const;

export interface Verdicts {
  readonly addedLatency: Array<{ scenario: string; addedP50Ms: number; addedP99Ms: number; addedP999Ms: number; p50Met: boolean; p99Met: boolean; p999Met: boolean }>;
  readonly cpu: Array<{ scenario: string; against: TargetName; tandemMicros: number; otherMicros: number; ratio: number; target?: number; met?: boolean }>;
}

function ratio(value: number | undefined, base: number | undefined): number | undefined {
  return value === undefined || base === undefined || base === 0 ? undefined : value / base;
}

export function verdicts(results: readonly ScenarioResult[]): Verdicts {
  const verdict: Verdicts = { addedLatency: [], cpu: [] };
  for (const scenario of results) {
    const by = (target: TargetName): TargetResult | undefined => scenario.results.find((r) => r.target === target);
    const direct = by('direct');
    const tandem = by('tandem');
    if (scenario.kind === 'fixed-rate' && direct !== undefined && tandem !== undefined) {
      const addedP50Ms = tandem.load.p50Ms - direct.load.p50Ms;
      const addedP99Ms = tandem.load.p99Ms - direct.load.p99Ms;
      const addedP999Ms = (tandem.load.p999Ms ?? NaN) - (direct.load.p999Ms ?? NaN);
      verdict.addedLatency.push({
        scenario: scenario.id,
        addedP50Ms,
        addedP99Ms,
        addedP999Ms,
        p50Met: addedP50Ms <= TARGETS.addedP50Ms,
        p99Met: addedP99Ms <= TARGETS.addedP99Ms,
        p999Met: addedP999Ms <= TARGETS.addedP999Ms,
      });
    }
    if (scenario.kind !== 'saturation' || tandem?.proxy == null) continue;
    for (const against of ['minimal', 'haproxy', 'nghttpx'] as const) {
      const other = by(against)?.proxy;
      if (other == null) continue;
      const r = tandem.proxy.cpuMicrosPerRequest / other.cpuMicrosPerRequest;
      const target =
        against === 'minimal' ? TARGETS.cpuRatioToMinimal : against === 'haproxy' && scenario.id === 'h1' ? TARGETS.cpuRatioToHaproxyH1 : against === 'nghttpx' && scenario.id === 'h2c' ? TARGETS.cpuRatioToNghttpxH2c : undefined;
      verdict.cpu.push({
        scenario: scenario.id,
        against,
        tandemMicros: tandem.proxy.cpuMicrosPerRequest,
        otherMicros: other.cpuMicrosPerRequest,
        ratio: r,
        ...(target === undefined ? {} : { target, met: r <= target }),
      });
    }
  }
  return verdict;
}

const TARGET_LABEL: Record<TargetName, string> = { direct: 'direct', tandem: 'tandem', minimal: 'minimal Node pipe', haproxy: 'HAProxy', nghttpx: 'nghttpx' };

export function markdown(results: readonly ScenarioResult[], verdict: Verdicts, header: string[], skippedNotes: readonly string[]): string {
  const lines = [...header, ''];
  for (const note of skippedNotes) lines.push(`> **${note}**`, '');
  lines.push(
    '| Scenario | Target | req/s | p50 ms | p99 ms | p99.9 ms | p50 ÷ direct | p99 ÷ direct | proxy CPU µs/req | CPU ÷ Tandem | alloc KiB/req | GCs (major) | GC ms (longest) | RSS MiB start / end (peak) | failed | other CPU % |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const scenario of results) {
    if (scenario.skipped !== undefined) {
      lines.push(`| ${scenario.id} | **skipped: ${scenario.skipped}** |${' |'.repeat(14)}`);
      continue;
    }
    const direct = scenario.results.find((r) => r.target === 'direct');
    const tandem = scenario.results.find((r) => r.target === 'tandem');
    for (const r of scenario.results) {
      const isDirect = r.target === 'direct';
      const cell = (value: number | undefined, digits = 2): string => (isDirect || value === undefined ? '—' : fmt(value, digits));
      const runtime = r.runtime;
      const rss = r.proxy === null ? '—' : `${fmt(r.proxyStartRssMB ?? NaN, 0)} / ${fmt(r.proxy.rssMB, 0)} (${fmt(r.proxy.peakRssMB, 0)})`;
      lines.push(
        `| ${scenario.id} | ${TARGET_LABEL[r.target]} | ${fmt(r.load.reqPerSec, 0)} | ${fmt(r.load.p50Ms, 3)} | ${fmt(r.load.p99Ms, 3)} | ${r.load.p999Ms === undefined ? '—' : fmt(r.load.p999Ms, 3)} | ` +
          `${cell(ratio(r.load.p50Ms, direct?.load.p50Ms))} | ${cell(ratio(r.load.p99Ms, direct?.load.p99Ms))} | ` +
          `${cell(r.proxy?.cpuMicrosPerRequest, 1)} | ${cell(ratio(r.proxy?.cpuMicrosPerRequest, tandem?.proxy?.cpuMicrosPerRequest))} | ` +
          `${runtime === null ? '—' : fmt(runtime.allocatedBytesPerRequest / 1024, 1)} | ${runtime === null ? '—' : `${runtime.collections} (${runtime.majorCollections})`} | ` +
          `${runtime === null ? '—' : `${fmt(runtime.pauseMs, 0)} (${fmt(runtime.longestPauseMs, 1)})`} | ${rss} | ${r.load.failed} | ${fmt(r.machine.otherPercent, 0)} |`,
      );
    }
    for (const error of scenario.errors) lines.push(`| ${scenario.id} | **error** | ${error.split('\n')[0]?.replaceAll('|', '\\|') ?? ''} |${' |'.repeat(13)}`);
  }
  lines.push('', 'Targets:', '');
  const mark = (met: boolean): string => (met ? 'met' : '**MISSED**');
  for (const v of verdict.addedLatency) {
    lines.push(
      `- ${v.scenario}: added p50 ${fmt(v.addedP50Ms, 3)} ms (target ≤ ${TARGETS.addedP50Ms} ms: ${mark(v.p50Met)}), added p99 ${fmt(v.addedP99Ms, 3)} ms (target ≤ ${TARGETS.addedP99Ms} ms: ${mark(v.p99Met)}), ` +
        `added p99.9 ${fmt(v.addedP999Ms, 3)} ms (target ≤ ${TARGETS.addedP999Ms} ms: ${mark(v.p999Met)})`,
    );
  }
  for (const v of verdict.cpu) {
    const goal = v.target === undefined ? '' : ` (target ≤ ${v.target}x: ${mark(v.met === true)})`;
    lines.push(`- ${v.scenario}: CPU/request Tandem ${fmt(v.tandemMicros, 1)} µs vs ${TARGET_LABEL[v.against]} ${fmt(v.otherMicros, 1)} µs = ${fmt(v.ratio, 2)}x${goal}`);
  }
  if (verdict.addedLatency.length === 0 && verdict.cpu.length === 0) lines.push('- no scenario produced the numbers the targets need');
  return lines.join('\n');
}
