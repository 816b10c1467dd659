import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from './sidecarRuns.js';
import { REPO_ROOT } from './targets.js';

export interface BaselineBuild {
  /** The short commit the build is of. */
  readonly commit: string;
  /** Its `dist/sidecar/cli/main.js`. */
  readonly main: string;
  remove(): void;
}

/**
 * Tandem as built at an earlier commit, for a benchmark that compares a change against the build
 * before it in the same run: a detached git worktree of `rev` in a temporary directory, sharing this
 * checkout's node_modules, compiled by its own tsconfig. Undefined, with the reason logged, where
 * that cannot be (not a git checkout, an unknown revision).
 */
export function buildAt(rev: string): BaselineBuild | undefined {
  const git = (...args: string[]): string => execFileSync('git', ['-C', REPO_ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  let commit: string;
  try {
    commit = git('rev-parse', '--short', `${rev}^{commit}`);
  } catch (error) {
    log(`no baseline build: ${rev} is not a commit of this checkout (${(error as Error).message.split('\n')[0]})`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), `tandem-baseline-${commit}-`));
  const remove = (): void => {
    try {
      git('worktree', 'remove', '--force', dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
      git('worktree', 'prune');
    }
  };
  try {
    git('worktree', 'add', '--detach', dir, commit);
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    log(`building the baseline ${commit} in ${dir}`);
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (error) {
    remove();
    throw error;
  }
  const main = join(dir, 'dist/sidecar/cli/main.js');
  if (!existsSync(main)) {
    remove();
    throw new Error(`the baseline ${commit} built no ${main}`);
  }
  return { commit, main, remove };
}
