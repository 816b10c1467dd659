import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes) and ranks functions by self time.
 * Also runnable on its own: `node dist/test/bench/profile.js <file.cpuprofile> [top]`.
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotFunction {
  /** `name (file:line)`; file relative to the repository for Tandem's own code. */
  readonly function: string;
  readonly selfMs: number;
  /** Of the profile's busy (non-idle) time. */
  readonly selfPercent: number;
}

export type CodeCategory = 'tandem' | 'node internals' | 'dependencies' | 'gc' | 'idle' | 'program' | 'other';

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  /** Self time by where the code lives. */
  readonly byCategory: Record<CodeCategory, number>;
  /** Self time per Tandem source file, largest first. */
  readonly tandemFiles: ReadonlyArray<{ readonly file: string; readonly selfMs: number }>;
  readonly top: readonly HotFunction[];
  readonly topTandem: readonly HotFunction[];
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TANDEM_DIRS = ['dist/sidecar/', 'dist/discovery/'];

function categorize(frame: CallFrame): CodeCategory {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'program';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/node_modules/')) return 'dependencies';
  if (TANDEM_DIRS.some((dir) => url.includes(`/${dir}`))) return 'tandem';
  return 'other';
}

function fileOf(url: string): string {
  if (!url.startsWith('file:')) return url;
  return relative(REPO_ROOT, fileURLToPath(url));
}

function label(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  return frame.url === '' ? name : `${name} (${fileOf(frame.url)}:${frame.lineNumber + 1})`;
}

export function summarizeProfile(file: string, topN = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  // Each sample's time is the delta to the next sample (V8 records the delta before it).
  const selfById = new Map<number, number>();
  let totalMicros = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const micros = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i] as number;
    selfById.set(id, (selfById.get(id) ?? 0) + micros);
    totalMicros += micros;
  }
  const byFunction = new Map<string, { frame: CallFrame; micros: number }>();
  const byCategory: Record<CodeCategory, number> = { tandem: 0, 'node internals': 0, dependencies: 0, gc: 0, idle: 0, program: 0, other: 0 };
  const byTandemFile = new Map<string, number>();
  for (const [id, micros] of selfById) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const key = label(frame);
    const entry = byFunction.get(key) ?? { frame, micros: 0 };
    entry.micros += micros;
    byFunction.set(key, entry);
    const category = categorize(frame);
    byCategory[category] += micros / 1_000;
    if (category === 'tandem') byTandemFile.set(fileOf(frame.url), (byTandemFile.get(fileOf(frame.url)) ?? 0) + micros / 1_000);
  }
  const ranked = [...byFunction.entries()].sort((a, b) => b[1].micros - a[1].micros);
  const busyMicros = Math.max(1, totalMicros - byCategory.idle * 1_000);
  const hot = ([key, { micros }]: (typeof ranked)[number]): HotFunction => ({
    function: key,
    selfMs: round(micros / 1_000),
    selfPercent: round((100 * micros) / busyMicros),
  });
  for (const category of Object.keys(byCategory) as CodeCategory[]) byCategory[category] = round(byCategory[category]);
  return {
    file,
    totalMs: round(totalMicros / 1_000),
    byCategory,
    tandemFiles: [...byTandemFile.entries()].sort((a, b) => b[1] - a[1]).map(([f, ms]) => ({ file: f, selfMs: round(ms) })),
    top: ranked.filter(([, { frame }]) => categorize(frame) !== 'idle').slice(0, topN).map(hot),
    topTandem: ranked.filter(([, { frame }]) => categorize(frame) === 'tandem').slice(0, topN).map(hot),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Human-readable report of a summary. */
export function formatProfile(summary: ProfileSummary): string {
  const busy = summary.totalMs - summary.byCategory.idle;
  const lines = [`CPU profile ${summary.file}: ${summary.totalMs} ms sampled, ${round(busy)} ms not idle (percentages are of that)`];
  lines.push(
    `  self time by origin (ms, % of non-idle): ` +
      Object.entries(summary.byCategory)
        .filter(([category]) => category !== 'idle')
        .map(([category, ms]) => `${category} ${ms} (${((100 * ms) / Math.max(1, busy)).toFixed(1)}%)`)
        .join(', '),
  );
  lines.push('  top self time, all code:');
  for (const f of summary.top) lines.push(`    ${f.selfMs.toFixed(1).padStart(9)} ms ${f.selfPercent.toFixed(1).padStart(5)}%  ${f.function}`);
  lines.push("  top self time, Tandem's code:");
  for (const f of summary.topTandem) lines.push(`    ${f.selfMs.toFixed(1).padStart(9)} ms ${f.selfPercent.toFixed(1).padStart(5)}%  ${f.function}`);
  lines.push("  Tandem's self time by file:");
  for (const f of summary.tandemFiles.slice(0, 10)) lines.push(`    ${f.selfMs.toFixed(1).padStart(9)} ms  ${f.file}`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: profile.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, top === undefined ? 15 : Number(top)))}\n`);
}
