import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirectoryInUseError, lockDataDirectory } from './data-directory-lock';

describe('the embedded data directory lock', () => {
  let directory: string;
  let file: string;

  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'dm-lock-'));
    file = path.join(directory, 'pglite.lock');
  });
  afterEach(() => rm(directory, { recursive: true, force: true }));

  it('refuses a second opener while the first holds it, naming the holder', async () => {
    const first = await lockDataDirectory(file, directory);
    const second = lockDataDirectory(file, directory);
    await expect(second).rejects.toBeInstanceOf(DataDirectoryInUseError);
    await expect(second).rejects.toThrow(`the embedded database in ${directory} is in use by another process (pid ${process.pid}, lock ${file})`);
    await first.release();
  });

  it('is free again once released, and a second release removes nothing of the next holder', async () => {
    const first = await lockDataDirectory(file, directory);
    await first.release();
    const second = await lockDataDirectory(file, directory);
    await first.release();
    expect(await readFile(file, 'utf8')).toBe(`${process.pid}\n`);
    await second.release();
    await expect(readFile(file, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('takes over a lock left by a process that is gone', async () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(file, `${gone}\n`);
    const lock = await lockDataDirectory(file, directory);
    expect(await readFile(file, 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });

  it('takes over a lock naming this process that this process never took (a container restarted under the same pid)', async () => {
    await writeFile(file, `${process.pid}\n`);
    const lock = await lockDataDirectory(file, directory);
    await expect(lockDataDirectory(file, directory)).rejects.toBeInstanceOf(DataDirectoryInUseError);
    await lock.release();
  });

  it('takes over a lock file it cannot read as a process id', async () => {
    await writeFile(file, 'not a pid');
    const lock = await lockDataDirectory(file, directory);
    expect(await readFile(file, 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });
});
