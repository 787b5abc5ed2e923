import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * The lock files this process holds now. A lock file naming this process's id
 * that is not here was left by an earlier process given the same id (a
 * container restarted after a crash runs its server under the same pid again):
 * it is stale, not ours.
 */
const heldHere = new Set<string>();

/**
 * The embedded database is already open in another process: a second PGlite
 * on the same files would not see the first one's writes and may corrupt
 * them, so it is refused before PGlite starts. Printed as one line by the CLI.
 */
export class DataDirectoryInUseError extends Error {
  override readonly name = 'DataDirectoryInUseError';
  constructor(
    readonly directory: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    super(
      `the embedded database in ${directory} is in use by another process (pid ${pid}, lock ${lockFile}); only one process may open it: ` +
        'stop that process first, or, while the server runs, use its HTTP API',
    );
  }
}

/** A held lock; `release` removes the lock file once (later calls do nothing). */
export interface DataDirectoryLock {
  release(): Promise<void>;
}

/**
 * Takes the lock file `file` for this process, refusing with
 * {@link DataDirectoryInUseError} while a live process holds it. A lock whose
 * process is gone (a crash, SIGKILL), that names this process without its
 * having taken it, or that cannot be read is stale and taken over.
 * `directory` is what the error names.
 */
export async function lockDataDirectory(file: string, directory: string): Promise<DataDirectoryLock> {
  // Two attempts: the second follows the removal of a stale lock. Exclusive creation makes the
  // check and the claim one step, so two processes starting together cannot both win.
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      heldHere.add(path.resolve(file));
      return releaser(file);
    } catch (error) {
      if (!isErrorCode(error, 'EEXIST') || attempt > 0) throw error;
    }
    const holder = await lockHolder(file);
    if (holder !== undefined && holdsIt(holder, file)) throw new DataDirectoryInUseError(directory, holder, file);
    await rm(file, { force: true });
  }
}

function releaser(file: string): DataDirectoryLock {
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      heldHere.delete(path.resolve(file));
      // Only our own lock: a file another process wrote after a stale takeover is theirs.
      if ((await lockHolder(file)) === process.pid) await rm(file, { force: true });
    },
  };
}

async function lockHolder(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 && String(pid) === text.trim() ? pid : undefined;
}

/** Whether process `pid` holds `file`: this process only if it took the lock, any other while it lives. */
function holdsIt(pid: number, file: string): boolean {
  return pid === process.pid ? heldHere.has(path.resolve(file)) : isAlive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return isErrorCode(error, 'EPERM');
  }
}

function isErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code;
}
