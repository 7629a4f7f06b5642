import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Tests run the workspace client package from its sources (like tsconfig's `tickgate-source` condition). */
export const clientSourceAlias = [
  { find: /^@tickgate\/client$/, replacement: fileURLToPath(new URL('./packages/client/src/node.ts', import.meta.url)) },
  {
    find: /^@tickgate\/client\/(protocol|topic|backoff)$/,
    replacement: fileURLToPath(new URL('./packages/client/src/$1.ts', import.meta.url)),
  },
];

/**
 * Tests that time the machine itself (the dashboard's frame pacing in Chromium) run after all the
 * others, one file at a time: next to the fuzz test or a benchmark smoke run, two cores cannot
 * keep a browser at 60 Hz, and the assertion would measure the neighbours instead of the page.
 */
const RUN_ALONE = ['test/dashboard.test.ts'];

export default defineConfig({
  resolve: { alias: clientSourceAlias },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'tests',
          include: ['src/**/*.test.ts', 'feeds/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
          exclude: [...RUN_ALONE, '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'alone', include: RUN_ALONE, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Each file starts its own gateways on ephemeral ports; two cores, so keep parallelism modest.
    maxWorkers: 2,
    // A real nats-server for the NATS bus tests (test/nats/); they skip, loudly, without the binary.
    globalSetup: ['test/nats/global-setup.ts'],
  },
});
