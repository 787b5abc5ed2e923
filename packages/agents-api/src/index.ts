export { AgentsApiError, agentsApiErrorCodes } from './errors';
export type { AgentsApiErrorCode, AgentsApiErrorOptions } from './errors';
export { getMigrationState, runMigrations } from './database/migrations';
export type { MigrationRun, MigrationSet, MigrationState } from './database/migrations';
export { agentsApiMigrations, migrateAgentsApi } from './database/agents-api-migrations';
