import { createDataMachineContext, type DataMachineContext } from 'data-machine';
import type { ServerConfig } from '../config/config';
import { openDatabase, type ServerDatabase } from '../database/database';
import { migrationStates } from '../database/migrate';
import { StartupError } from './failure';

/** The configured database as the operator knows it: `PGlite in <dir>` or `Postgres at <host>/<name>` (no credentials). */
export function describeDatabase(config: ServerConfig): string {
  if (config.database.kind === 'pglite') return `PGlite in ${config.database.dataDir}`;
  const url = new URL(config.database.url);
  return `Postgres at ${url.host}${url.pathname}`;
}

/** Refuses a database that does not answer, in one line. */
export async function ensureReachable(config: ServerConfig, database: ServerDatabase): Promise<void> {
  if (!(await database.ping())) throw new StartupError(`cannot reach the database (${describeDatabase(config)})`);
}

/** Refuses a database the CLI cannot reach or that is not migrated. */
export async function ensureMigrated(config: ServerConfig, database: ServerDatabase): Promise<void> {
  await ensureReachable(config, database);
  const pending = (await migrationStates(database.db)).filter((state) => state.pending.length > 0);
  if (pending.length > 0) throw new StartupError("the database is not migrated; run 'data-machine migrate' first");
}

/**
 * Opens the configured database for a command that works on it (an
 * administration command, `chat`), refuses it unless it answers and is
 * migrated, runs `work` with a quiet product context on it, and closes it.
 */
export async function withMigratedDatabase<T>(config: ServerConfig, work: (database: ServerDatabase, context: DataMachineContext) => Promise<T>): Promise<T> {
  const database = await openDatabase(config.database);
  try {
    await ensureMigrated(config, database);
    return await work(database, createDataMachineContext({ db: database.db, logger: { warn: () => undefined } }));
  } finally {
    await database.close();
  }
}
