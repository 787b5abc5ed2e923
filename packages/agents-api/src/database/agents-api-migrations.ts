import type { Kysely } from 'kysely';
import { runMigrations, type MigrationRun, type MigrationSet } from './migrations';

/**
 * The tables of `@data-machine/agents-api` (all named `agents_*`). Empty
 * until the Postgres memory and transcript stores add theirs.
 */
export const agentsApiMigrations: MigrationSet = {
  name: 'agents_api',
  migrations: {},
};

/** Creates or upgrades this package's tables; safe to call on every start. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function migrateAgentsApi(db: Kysely<any>): Promise<MigrationRun> {
  return runMigrations(db, agentsApiMigrations);
}
