import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@data-machine/source'] },
  ssr: { resolve: { conditions: ['@data-machine/source'] } },
  test: {
    name: 'data-machine',
    // Threads, not processes: see the root vitest.config.ts.
    pool: 'threads',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Suites start from a migrated copy instead of migrating (see test/support/global-setup.ts).
    globalSetup: ['test/support/global-setup.ts'],
  },
});
