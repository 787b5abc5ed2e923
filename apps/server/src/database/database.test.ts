import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from './database';
import { DataDirectoryInUseError, lockDataDirectory } from './data-directory-lock';

describe('opening the embedded database', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'dm-open-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('refuses a data directory another opener holds, before PGlite touches its files', async () => {
    // What a running server holds: the same lock file openDatabase takes.
    const held = await lockDataDirectory(path.join(dataDir, 'pglite.lock'), dataDir);
    await expect(openDatabase({ kind: 'pglite', dataDir })).rejects.toBeInstanceOf(DataDirectoryInUseError);
    expect(await readdir(path.join(dataDir, 'pglite'))).toEqual([]);
    await held.release();
  });
});
