import type { AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import type { TenantTransaction } from '../scope/tenant-transaction';

// The substrate's row types are interfaces, which kysely's `withTables` does not
// take; the same columns as plain object types.
type Plain<Row> = { [Column in keyof Row]: Row[Column] };
type SubstrateTables = {
  agents_sessions: Plain<AgentsApiDatabase['agents_sessions']>;
  agents_memory_files: Plain<AgentsApiDatabase['agents_memory_files']>;
};

/** What {@link deleteAgentSubstrateData} removed. */
export interface DeletedSubstrateData {
  /** Sessions, each with its messages and runs (the substrate's own cascades). */
  readonly sessions: number;
  readonly memoryFiles: number;
}

/**
 * Deletes an agent's data in the substrate's tables, every user's and layer's,
 * in the caller's transaction: its transcripts and its memory files in
 * `tenantId`. The substrate names an agent by slug within a tenant, so this
 * must run with the agent row's deletion, before a new agent can take the slug
 * and find the old one's transcripts. `tenant_key` is the tenant id itself for
 * every product tenant (the substrate writes '' only for no tenant).
 */
export async function deleteAgentSubstrateData(trx: TenantTransaction, tenantId: string, agentSlug: string): Promise<DeletedSubstrateData> {
  const substrate = trx.withTables<SubstrateTables>();
  const sessions = await substrate.deleteFrom('agents_sessions').where('tenant_key', '=', tenantId).where('agent_slug', '=', agentSlug).executeTakeFirst();
  const files = await substrate.deleteFrom('agents_memory_files').where('tenant_key', '=', tenantId).where('agent_slug', '=', agentSlug).executeTakeFirst();
  return { sessions: Number(sessions.numDeletedRows), memoryFiles: Number(files.numDeletedRows) };
}
