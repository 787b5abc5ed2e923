import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';

/**
 * The installed PGlite's version: a data directory only loads into the
 * PGlite that wrote it, so the prepared one is keyed by it.
 */
function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  let directory = path.dirname(entry);
  // The package's `exports` hide package.json; walk up from its entry to it.
  while (path.basename(directory) !== 'pglite' && path.dirname(directory) !== directory) directory = path.dirname(directory);
  const manifest = createRequire(path.join(directory, 'package.json'))('./package.json') as { version: string };
  return manifest.version;
}

/**
 * Where the prepared PGlite data directory lives: a tarball of an empty,
 * initialised cluster, shared by every test run on this machine with the
 * same PGlite. `TESTKIT_CACHE_DIR` moves it (default: the OS temp dir).
 */
export function preparedPgliteDataDirPath(): string {
  const cacheDir = process.env.TESTKIT_CACHE_DIR ?? path.join(tmpdir(), 'data-machine-testkit');
  return path.join(cacheDir, `pglite-${pgliteVersion()}-empty.tar`);
}

let preparing: Promise<string> | undefined;

/**
 * Makes the prepared data directory unless it already exists, and returns
 * its path. A fresh `PGlite.create()` runs initdb (seconds, tens of seconds
 * on a busy machine); loading this tarball skips it. It holds no schema: each
 * suite runs its own migrations. Written to a temporary name and renamed, so
 * a concurrent run never reads half a file; two runs racing both make one
 * and the last rename wins, which is harmless.
 */
export function preparePgliteDataDir(): Promise<string> {
  preparing ??= makeUnlessPresent().catch((error: unknown) => {
    preparing = undefined;
    throw error;
  });
  return preparing;
}

async function makeUnlessPresent(): Promise<string> {
  const target = preparedPgliteDataDirPath();
  if (await readable(target)) return target;
  const pglite = await PGlite.create();
  try {
    // Uncompressed: loading it is faster than a gzipped one, and it stays on disk.
    const dump = await pglite.dumpDataDir('none');
    await mkdir(path.dirname(target), { recursive: true });
    const partial = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
    try {
      await writeFile(partial, new Uint8Array(await dump.arrayBuffer()));
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  } finally {
    await pglite.close();
  }
  return target;
}

async function readable(file: string): Promise<boolean> {
  try {
    return (await stat(file)).size > 0;
  } catch {
    return false;
  }
}

/**
 * The prepared data directory's bytes, read once per process (making it
 * first if no global setup did), for `PGlite.create({ loadDataDir })`.
 */
export async function preparedPgliteDataDir(): Promise<Blob> {
  return loadDataDir(await preparePgliteDataDir());
}

const loaded = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

/** A dumped data directory's bytes, read once per process per file, for `PGlite.create({ loadDataDir })`. */
export function loadDataDir(file: string): Promise<Blob> {
  let bytes = loaded.get(file);
  if (!bytes) {
    bytes = readFile(file).then((buffer) => new Uint8Array(buffer));
    bytes.catch(() => loaded.delete(file));
    loaded.set(file, bytes);
  }
  return bytes.then((content) => new Blob([content]));
}

/**
 * Writes a dumped data directory (the prepared one, or a template's
 * `pgliteDataDir`) out as the files of a PGlite data folder at `directory`,
 * for a process that opens PGlite on a folder rather than loading a dump: a
 * child process of the built server under `DM_DATA_DIR`. A fraction of a
 * second, where the folder's first open would run initdb (and, from a
 * template, the migrations) for many seconds.
 */
export async function unpackPgliteDataDir(dump: string, directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  // The dump's members are absolute (`/base/1/...`); tar makes them relative to -C, and says so on stderr.
  await promisify(execFile)('tar', ['-xf', dump, '-C', directory]);
}
