import type { ServerConfig } from '../config/config';
import type { ServerDatabase } from '../database/database';
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
