import { defineConfig } from 'vitest/config';

/** One run over every workspace package, so the closing summary counts every test. */
export default defineConfig({
  test: {
    // Makes the prepared PGlite data directory once per run, before any worker
    // starts: every PGlite test database loads it instead of running initdb.
    globalSetup: ['packages/testkit/src/database/global-setup.ts'],
    projects: [
      'packages/*',
      'apps/*',
      { test: { name: 'tools', include: ['tools/**/*.test.ts'] } },
    ],
  },
});
