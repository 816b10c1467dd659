/**
 * Types, targets and the markdown table of the balancer pick benchmark (pick.ts).
 */
import { fmt } from './format.js';

export const SIZES = [10, 100, 1_000, 10_000] as const;
export const WEIGHTINGS = ['equal', '1..5'] as const;
export type Weighting = (typeof WEIGHTINGS)[number];

/** Targets from the issue, evaluated at 10,000 endpoints with both weightings. */
export const BUILD_TARGET_MS = 100;
export const BUILD_TARGET_POLICIES = ['ring_hash', 'maglev'];
export const PICK_TARGET_NS = 1_000;
export const PICK_TARGET_POLICIES = ['least_request', 'ring_hash', 'maglev'];
export const TARGET_SIZE = 10_000;

export type Verdict = { readonly target: string; readonly value: number; readonly limit: number; readonly met: boolean };

export interface Row {
  readonly policy: string;
  readonly endpoints: number;
  readonly weights: Weighting;
  /** Median of the warm builds (after the first), and the first (cold) build. */
  readonly buildMs: number;
  readonly firstBuildMs: number;
  readonly warmBuildsMs: readonly number[];
  readonly nsPerPick: number;
  readonly roundsNsPerPick: readonly number[];
  readonly picksTimed: number;
  readonly bytesPerPick: number;
  readonly bytesPerPickSamples: readonly number[];
  /** Picks in the heap measurement, how often it was repeated because a GC ran, picks not `ok` (should be 0). */
  readonly heapPicks: number;
  readonly heapRetries: number;
  readonly notOk: number;
  readonly verdicts: readonly Verdict[];
  /** `balancer.describe()` after the last build (ring or table size), when the policy has one. */
  readonly described: Readonly<Record<string, unknown>> | null;
}

/** A verdict's value (or `by` how much it missed) in its unit: ms for builds, ns for picks. */
function inUnit(v: Verdict, value: number): string {
  return v.target.startsWith('build') ? `${fmt(value, 1)} ms` : `${fmt(value, 0)} ns`;
}

function verdictText(v: Verdict): string {
  return v.met ? 'met' : `**MISSED** by ${inUnit(v, v.value - v.limit)}`;
}

function verdictCell(row: Row): string {
  return row.verdicts.length === 0 ? '—' : row.verdicts.map((v) => `${v.target}: ${verdictText(v)}`).join('; ');
}

export function markdown(rows: readonly Row[], header: readonly string[], notes: readonly string[]): string {
  const lines = [
    ...header,
    '',
    '| Policy | Endpoints | Weights | Build ms (median warm) | First build ms | ns/pick | Picks timed | Bytes/pick | Target met? |',
    '|---|---:|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.policy} | ${r.endpoints.toLocaleString('en-US')} | ${r.weights} | ${fmt(r.buildMs, 3)} | ${fmt(r.firstBuildMs, 3)} | ${fmt(r.nsPerPick, 0)} | ` +
        `${r.picksTimed.toLocaleString('en-US')} | ${fmt(Math.abs(r.bytesPerPick) < 0.05 ? 0 : r.bytesPerPick, 1)}${r.heapRetries > 0 ? ` (n=${r.heapPicks})` : ''} | ${verdictCell(r)} |`,
    );
  }
  lines.push('', 'Targets (at 10,000 endpoints):', '');
  for (const policy of BUILD_TARGET_POLICIES) lines.push(`- ${policy} build ≤ ${BUILD_TARGET_MS} ms: ${summary(rows, policy, 'build')}`);
  for (const policy of PICK_TARGET_POLICIES) lines.push(`- ${policy} pick ≤ ${PICK_TARGET_NS / 1000} µs: ${summary(rows, policy, 'pick')}`);
  for (const note of notes) lines.push(`- ${note}`);
  return lines.join('\n');
}

function summary(rows: readonly Row[], policy: string, kind: 'build' | 'pick'): string {
  const found = rows.filter((r) => r.policy === policy && r.endpoints === TARGET_SIZE);
  if (found.length === 0) return '**not measured** (policy not registered or its run failed)';
  return found
    .map((r) => {
      const v = r.verdicts.find((x) => x.target.startsWith(kind));
      return v === undefined ? `${r.weights}: n/a` : `${r.weights} weights ${inUnit(v, v.value)} (${verdictText(v)})`;
    })
    .join(', ');
}
