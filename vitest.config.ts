import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Worker threads crash Temporal's native bridge: one process per test file.
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
