import { open, readFile, rm } from 'node:fs/promises';

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
 * process is gone (a crash, SIGKILL) or that cannot be read is stale and taken over.
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
      return releaser(file);
    } catch (error) {
      if (!isErrorCode(error, 'EEXIST') || attempt > 0) throw error;
    }
    const holder = await lockHolder(file);
    if (holder !== undefined && isAlive(holder)) throw new DataDirectoryInUseError(directory, holder, file);
    await rm(file, { force: true });
  }
}

function releaser(file: string): DataDirectoryLock {
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
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
