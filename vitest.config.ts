import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'feeds/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Each file starts its own gateways on ephemeral ports; two cores, so keep parallelism modest.
    maxWorkers: 2,
    // A real nats-server for the NATS bus tests (test/nats/); they skip, loudly, without the binary.
    globalSetup: ['test/nats/global-setup.ts'],
  },
});
