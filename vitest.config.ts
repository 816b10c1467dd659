import { defineConfig } from 'vitest/config';

/** Rebuilds dist/ before the projects that start compiled code in child processes, if it is stale. */
const FRESH_DIST = ['test/helpers/freshDist.ts'];

/**
 * `npm test` (what CI runs) runs all three projects; `npm run test:unit`, `test:integration` and
 * `test:e2e` one each; `npm run test:soak` the socket-level ones with literal durations
 * (test/helpers/soak.ts).
 */
export default defineConfig({
  test: {
    // Socket and process tests want real event-loop time; forks isolate them from each other.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: FRESH_DIST } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], globalSetup: FRESH_DIST } },
    ],
  },
});
