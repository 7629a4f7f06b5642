import { defineConfig } from 'vitest/config';
import { clientSourceAlias } from '../../vitest.config.ts';

/** `npm run test:e2e`: tests that start external servers (Prometheus); not part of `npm test`. */
export default defineConfig({
  resolve: { alias: clientSourceAlias },
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/e2e/**/*.e2e.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
