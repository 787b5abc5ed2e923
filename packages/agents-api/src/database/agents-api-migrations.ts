import type { Kysely } from 'kysely';
import { runMigrations, type MigrationRun, type MigrationSet } from './migrations';
import { memoryAndTranscripts } from './migrations/0001-memory-and-transcripts';
import { runsAndLeases } from './migrations/0002-runs-and-leases';
import { tenancy } from './migrations/0003-tenancy';
import { appendFunction } from './migrations/0004-append-function';
import { openFunction } from './migrations/0005-open-function';
import { appendByPrimaryKey } from './migrations/0006-append-by-primary-key';
import { openByPrimaryKey } from './migrations/0007-open-by-primary-key';

/**
 * The tables of `@data-machine/agents-api`, all named `agents_*`: memory
 * files, sessions and session messages (and two functions, the append and the open). Forward only; never edit a
 * migration that has shipped, add the next one.
 */
export const agentsApiMigrations: MigrationSet = {
  name: 'agents_api',
  migrations: {
    '0001_memory_and_transcripts': memoryAndTranscripts,
    '0002_runs_and_leases': runsAndLeases,
    '0003_tenancy': tenancy,
    '0004_append_function': appendFunction,
    '0005_open_function': openFunction,
    '0006_append_by_primary_key': appendByPrimaryKey,
    '0007_open_by_primary_key': openByPrimaryKey,
  },
};

/** Creates or upgrades this package's tables; safe to call on every start. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function migrateAgentsApi(db: Kysely<any>): Promise<MigrationRun> {
  return runMigrations(db, agentsApiMigrations);
}
