import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/** Rebuilds dist/ before the projects that start compiled code in child processes, if it is stale. */
const FRESH_DIST = ['test/helpers/freshDist.ts'];

/**
 * `npm test` runs the unit, integration and e2e projects; `npm run test:unit`, `test:integration` and
 * `test:e2e` one each; `npm run test:soak` the socket-level ones with literal durations
 * (test/helpers/soak.ts); `npm run test:hardening` the attack matrix, by hand on an idle machine (not
 * in CI yet: see README, Development). A bare `vitest run` runs all four, the attack matrix last.
 */
export default defineConfig({
  test: {
    // Socket and process tests want real event-loop time; forks isolate them from each other.
    pool: 'forks',
    // vitest's default, one fewer worker than cores, is a single worker on the 2-core CI and dev
    // machines: every file then waits for the one before, though most of their time is timers and
    // sockets. Two workers: 3 min 35 s -> ~2 min, measured; green in every run, also with one or
    // both cores saturated by other processes.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      // Unit tests open no sockets and restore fake timers after each test, so their files can share
      // a worker's module graph: 12 s -> 3 s alone, and green with files and tests shuffled.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], isolate: false } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: FRESH_DIST } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], globalSetup: FRESH_DIST } },
      // The attack matrix compares a legitimate client's p99 under attack with its p99 without one:
      // those files run after the others, one at a time, so no other test's load lands on one window
      // and not the other.
      {
        extends: true,
        test: { name: 'hardening', include: ['test/hardening/**/*.test.ts'], globalSetup: FRESH_DIST, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
