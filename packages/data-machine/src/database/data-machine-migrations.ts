import { runMigrations, type MigrationRun, type MigrationSet } from '@data-machine/agents-api/postgres';
import type { Kysely } from 'kysely';

/**
 * The tables of `data-machine` (all named `dm_*`). Empty until the product
 * issues add tenants, agents, pipelines, flows and jobs.
 */
export const dataMachineMigrations: MigrationSet = {
  name: 'data_machine',
  migrations: {},
};

/** Creates or upgrades this package's tables; run after `migrateAgentsApi`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function migrateDataMachine(db: Kysely<any>): Promise<MigrationRun> {
  return runMigrations(db, dataMachineMigrations);
}
