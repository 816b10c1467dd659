import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/{unit,integration,e2e}/**/*.test.ts'],
    // Socket and process tests want real event-loop time; forks isolate them from each other.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
