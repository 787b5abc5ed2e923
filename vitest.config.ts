import { defineConfig } from 'vitest/config';
import { LongestFirstSequencer } from './tools/vitest/longest-first-sequencer.ts';

/** One run over every workspace package, so the closing summary counts every test. */
export default defineConfig({
  test: {
    // Two test files at a time. Vitest's default on a 2-core machine is one (cores - 1), and most
    // files wait on databases, child processes and sockets rather than compute: one at a time took
    // 16 minutes of a CI run, two take about 6 (docs/decisions/2026-11-30-fast-test-databases.md).
    maxWorkers: 2,
    // Worker threads, not forked processes: every file starts in a fresh worker, and a thread starts
    // and imports a file's modules for about two thirds of a process's CPU; on a loaded machine that
    // start-up was most of the run (docs/decisions/2026-11-30-fast-test-databases.md). A project
    // does not inherit it: each project's config and the tools project below set it too.
    pool: 'threads',
    // The longest files start first, whichever package they are in (tools/vitest/test-durations.json).
    sequence: { sequencer: LongestFirstSequencer },
    // Makes the prepared PGlite data directory once per run, before any worker
    // starts: every PGlite test database loads it instead of running initdb.
    globalSetup: ['packages/testkit/src/database/global-setup.ts'],
    projects: [
      'packages/*',
      'apps/*',
      { test: { name: 'tools', pool: 'threads', include: ['tools/**/*.test.ts'] } },
    ],
  },
});
