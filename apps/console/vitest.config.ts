import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@data-machine/source'] },
  ssr: { resolve: { conditions: ['@data-machine/source'] } },
  test: {
    name: '@data-machine/console',
    // Threads, not processes: see the root vitest.config.ts.
    pool: 'threads',
    // Component tests choose jsdom in their first line; the browser test runs in node.
    include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.ts'],
  },
});
