import { defineConfig } from 'vitest/config';

/** One run over every workspace package, so the closing summary counts every test. */
export default defineConfig({
  test: {
    projects: [
      'packages/*',
      'apps/*',
      { test: { name: 'tools', include: ['tools/**/*.test.ts'] } },
    ],
  },
});
