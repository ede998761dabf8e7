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
    // Load the Temporal SDK and protobufjs through Node, not Vite's module runner: two copies of
    // protobufjs's reflection would break history (de)serialisation in replay tests.
    server: { deps: { external: [/@temporalio\//, /protobufjs/] } },
  },
});
