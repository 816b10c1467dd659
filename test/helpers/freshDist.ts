import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Vitest globalSetup of the projects that start compiled code from dist/ in child processes
 * (integration and e2e): runs `npm run build` first unless dist/ is already as new as every source,
 * so those tests never run stale code, whether started by `npm test` on a fresh clone or as
 * `npx vitest run test/e2e/cli.test.ts` after an edit. Checking costs a few milliseconds; a rebuild
 * is incremental (`tsc --incremental`, a few seconds after a small edit).
 *
 * The build's stamp is tsc's own dist/tsconfig.tsbuildinfo. dist/ is stale when any TypeScript file
 * of the compiled folders, or tsconfig.json or package.json, is newer than the stamp, or when a
 * source has no compiled .js (an output deleted by hand: the stamp is removed too, since tsc
 * --incremental re-emits only what it believes changed); and when a file the build copies as it is
 * (the dashboard's) is newer than the stamp or missing from dist/, or one was added or removed; and
 * when the native module is missing or older than its C source.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, 'tsconfig.tsbuildinfo');
/** tsconfig.json's `include`. */
const SOURCE_DIRS = ['sidecar', 'discovery', 'ca', 'injector', 'examples', 'test'];
const CONFIG_FILES = ['tsconfig.json', 'package.json'];
/** The folders scripts/copy-assets.mjs copies into dist/. */
const ASSET_DIRS = ['sidecar/admin/dashboard'];
/** What scripts/build-native.mjs compiles, and what it makes of it (Linux only). */
const NATIVE = { source: 'native/original_dst.c', output: 'dist/native/original_dst.node' };

function* typeScriptFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* typeScriptFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

/** Why dist/ must be rebuilt, or undefined when it is fresh; `fullBuild` when tsc's stamp cannot be trusted. */
function staleness(): { why: string; fullBuild: boolean } | undefined {
  if (!existsSync(STAMP)) return { why: `${relative(ROOT, STAMP)} does not exist`, fullBuild: false };
  const builtAt = statSync(STAMP).mtimeMs;
  for (const file of CONFIG_FILES) if (statSync(join(ROOT, file)).mtimeMs > builtAt) return { why: `${file} changed since the last build`, fullBuild: false };
  for (const dir of SOURCE_DIRS) {
    if (!existsSync(join(ROOT, dir))) continue;
    for (const source of typeScriptFiles(join(ROOT, dir))) {
      const name = relative(ROOT, source);
      if (statSync(source).mtimeMs > builtAt) return { why: `${name} changed since the last build`, fullBuild: false };
      const output = `dist/${name.replace(/\.ts$/, '.js')}`;
      if (!name.endsWith('.d.ts') && !existsSync(join(ROOT, output))) return { why: `${output} is missing`, fullBuild: true };
    }
  }
  for (const dir of ASSET_DIRS) {
    if (statSync(join(ROOT, dir)).mtimeMs > builtAt) return { why: `a file was added to or removed from ${dir}`, fullBuild: false };
    for (const asset of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      const name = join(dir, asset);
      if (statSync(join(ROOT, name)).mtimeMs > builtAt) return { why: `${name} changed since the last build`, fullBuild: false };
      if (!existsSync(join(DIST, name))) return { why: `dist/${name} is missing`, fullBuild: false };
    }
  }
  if (process.platform === 'linux') {
    if (!existsSync(join(ROOT, NATIVE.output))) return { why: `${NATIVE.output} is missing`, fullBuild: false };
    if (statSync(join(ROOT, NATIVE.source)).mtimeMs > statSync(join(ROOT, NATIVE.output)).mtimeMs) return { why: `${NATIVE.source} changed since the last build`, fullBuild: false };
  }
  return undefined;
}

export default function setup(): void {
  const stale = staleness();
  if (stale === undefined) return;
  process.stderr.write(`dist/ is stale (${stale.why}): npm run build\n`);
  if (stale.fullBuild) rmSync(STAMP);
  const startedAt = new Date();
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    // tsc writes its stamp even when it reports errors: date it back so the next run builds again.
    if (existsSync(STAMP)) utimesSync(STAMP, 0, 0);
    throw new Error(`npm run build failed (${build.error?.message ?? `exit ${build.status}`}); the tests that spawn dist/ cannot run:\n${build.stdout}${build.stderr}`);
  }
  if (!existsSync(STAMP)) throw new Error(`npm run build wrote no ${relative(ROOT, STAMP)}: the freshness check needs tsc --incremental`);
  // An incremental build that found nothing to do (sources touched, not changed) leaves the stamp
  // as it was: date it to this build's start, so the next run sees dist/ as fresh.
  utimesSync(STAMP, startedAt, startedAt);
}
