import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { longestFirst, readKnownDurations } from './longest-first-sequencer';

const root = path.resolve(import.meta.dirname, '../..');

describe('longest-first ordering', () => {
  it('starts the longest files first, across projects', () => {
    const files = [
      { file: 'packages/data-machine/src/small.test.ts', duration: 2_000 },
      { file: 'apps/server/test/cli.test.ts', duration: 100_000 },
      { file: 'packages/agents-api/test/readme.test.ts', duration: 40_000 },
    ];
    expect(longestFirst(files).map(({ file }) => file)).toEqual([
      'apps/server/test/cli.test.ts',
      'packages/agents-api/test/readme.test.ts',
      'packages/data-machine/src/small.test.ts',
    ]);
  });

  it('keeps the given order among files of unknown or equal duration, after the known ones', () => {
    const files = [
      { file: 'a.test.ts', duration: undefined },
      { file: 'b.test.ts', duration: 1_000 },
      { file: 'c.test.ts', duration: undefined },
      { file: 'd.test.ts', duration: 1_000 },
      { file: 'e.test.ts', duration: 0 },
    ];
    expect(longestFirst(files).map(({ file }) => file)).toEqual(['b.test.ts', 'd.test.ts', 'e.test.ts', 'a.test.ts', 'c.test.ts']);
  });
});

describe('the committed test durations', () => {
  const known = readKnownDurations();

  it('name test files that exist, so a moved file is not silently started late', () => {
    const missing = Object.keys(known).filter((file) => !existsSync(path.join(root, file)));
    expect(missing).toEqual([]);
  });

  it('hold a duration in milliseconds for each', () => {
    expect(Object.values(known).every((duration) => Number.isInteger(duration) && duration >= 0)).toBe(true);
    expect(Object.keys(known).length).toBeGreaterThan(0);
  });
});
