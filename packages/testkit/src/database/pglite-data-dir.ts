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
  return path.join(cacheDir, `pglite-${pgliteVersion()}-${preparedRecipe}-empty.tar`);
}

/**
 * Names how the prepared data directory is made (see `makeUnlessPresent`):
 * change it with the recipe, so a cached tarball made the old way is never
 * loaded.
 */
const preparedRecipe = 'lean1';

/**
 * The buffer pool of every PGlite test database. Postgres zeroes its shared
 * memory at every start: the default 128 MB was about half of a load's CPU,
 * and a test database holds a few megabytes.
 */
const testSharedBuffers = '16MB';

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
  // 1 MB WAL segments instead of 16: the tarball carries a whole segment, and
  // every load copies it into memory.
  const pglite = await PGlite.create({ initDbStartParams: ['--wal-segsize=1'] });
  try {
    // Takes effect from the next start: every load of this directory.
    await pglite.exec(`alter system set shared_buffers = '${testSharedBuffers}'`);
    // template0 only serves `CREATE DATABASE ... TEMPLATE template0`, which no
    // test runs; it was a quarter of the bytes every load copies. template1
    // (the default template) and postgres (the database PGlite opens) stay.
    await pglite.exec(`update pg_database set datistemplate = false where datname = 'template0'`);
    await pglite.exec('drop database template0');
    const dump = await dumpForLoading(pglite);
    await mkdir(path.dirname(target), { recursive: true });
    const partial = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
    try {
      await writeFile(partial, dump);
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
 * The dump of `pglite`'s data directory (uncompressed: loading it is faster
 * than a gzipped one, and it stays on local disk), made to load fast: after a
 * checkpoint, so a load replays no WAL, and without the WAL segments
 * Postgres keeps ready for later writes (recycled segments it makes again
 * when it needs them; with 1 MB segments, five of the seven files in pg_wal).
 */
export async function dumpForLoading(pglite: PGlite): Promise<Uint8Array<ArrayBuffer>> {
  await pglite.exec('checkpoint');
  const { rows } = await pglite.query<{ directory: string; current: string }>(
    `select current_setting('data_directory') as directory, pg_walfile_name(pg_current_wal_lsn()) as current`,
  );
  const { directory, current } = rows[0] ?? { directory: '', current: '' };
  const walDirectory = `${directory}/pg_wal`;
  const filesystem = pglite.Module.FS;
  for (const name of filesystem.readdir(walDirectory)) {
    // Segment names are fixed-width hex: a later segment sorts after the current one.
    if (/^[0-9A-F]{24}$/.test(name) && name > current) filesystem.unlink(`${walDirectory}/${name}`);
  }
  const dump = await pglite.dumpDataDir('none');
  return new Uint8Array(await dump.arrayBuffer());
}

/**
 * The prepared data directory (making it first if no global setup did), for
 * `PGlite.create({ loadDataDir })`; its bytes are read once per process.
 */
export async function preparedPgliteDataDir(): Promise<Blob> {
  return loadDataDir(await preparePgliteDataDir());
}

const loaded = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

/**
 * A dumped data directory for `PGlite.create({ loadDataDir })`, its bytes
 * read once per process per file. PGlite reads it with `arrayBuffer()`,
 * which Node answers by streaming the Blob's contents in chunks and joining
 * them (a quarter of a load's CPU); {@link DumpedDataDir} hands over a copy of
 * the bytes instead.
 */
export function loadDataDir(file: string): Promise<Blob> {
  let bytes = loaded.get(file);
  if (!bytes) {
    bytes = readFile(file).then((buffer) => new Uint8Array(buffer));
    bytes.catch(() => loaded.delete(file));
    loaded.set(file, bytes);
  }
  return bytes.then((content) => new DumpedDataDir(content));
}

/**
 * A Blob of a data directory's tarball whose `arrayBuffer()` copies the bytes
 * it was made from rather than streaming them back out of the Blob. A copy,
 * not the bytes themselves: every load of the process shares them, and a
 * reader may write into what it is given.
 */
class DumpedDataDir extends Blob {
  readonly #bytes: Uint8Array<ArrayBuffer>;

  constructor(bytes: Uint8Array<ArrayBuffer>) {
    super([bytes], { type: 'application/x-tar' });
    this.#bytes = bytes;
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(this.#bytes.slice().buffer);
  }
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
