import {
  agentsApiMigrations,
  getMigrationState,
  migrateAgentsApi,
  type MigrationRun,
  type MigrationSet,
  type MigrationState,
} from '@data-machine/agents-api/postgres';
import { dataMachineMigrations, installJobEngine, migrateDataMachine } from 'data-machine';
import type { Kysely } from 'kysely';

/** Every package's migration set, in the order they are applied: the substrate first. */
export const migrationSets: readonly MigrationSet[] = [agentsApiMigrations, dataMachineMigrations];

/** Applies every package's pending migrations, substrate first, then installs the job engine's pg-boss schema (idempotent). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateAll(db: Kysely<any>): Promise<MigrationRun[]> {
  const runs = [await migrateAgentsApi(db), await migrateDataMachine(db)];
  await installJobEngine(db);
  return runs;
}

/** The migration state of each set (every package's by default). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function migrationStates(db: Kysely<any>, sets: readonly MigrationSet[] = migrationSets): Promise<MigrationState[]> {
  return Promise.all(sets.map((set) => getMigrationState(db, set)));
}
