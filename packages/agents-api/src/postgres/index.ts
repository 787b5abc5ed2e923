// `@data-machine/agents-api/postgres`: the Postgres stores, the `agents_*` migrations and
// the migration runner. A subpath of its own so the main entry needs no `kysely`: only
// this entry imports it, an optional peer dependency a caller installs with a dialect
// (node-postgres, or `@data-machine/pglite-dialect` for embedded PGlite).
export type { AgentsApiDatabase, MemoryFileTable, RunTable, SessionMessageTable, SessionTable } from '../database/agents-api-database';
export { getMigrationState, runMigrations } from '../database/migrations';
export type { MigrationRun, MigrationSet, MigrationState } from '../database/migrations';
export { agentsApiMigrations, migrateAgentsApi } from '../database/agents-api-migrations';
export { createPostgresMemoryStore } from '../memory/postgres-memory-store';
export type { PostgresMemoryStoreOptions } from '../memory/postgres-memory-store';
export { createPostgresTranscriptStore } from '../transcripts/postgres-transcript-store';
export type { PostgresTranscriptStoreOptions } from '../transcripts/postgres-transcript-store';
export { withNamedStatements } from '../database/named-statement-pool';
export type { NamedQuery, NamingPostgresPool } from '../database/named-statement-pool';
