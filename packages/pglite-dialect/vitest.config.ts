import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@data-machine/source'] },
  ssr: { resolve: { conditions: ['@data-machine/source'] } },
  test: {
    name: '@data-machine/pglite-dialect',
    // Threads, not processes: see the root vitest.config.ts.
    pool: 'threads',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
});
