import type { AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import type { Kysely } from 'kysely';
import type { DataMachineDatabase } from '../database/data-machine-database';
import type { TenantTransaction } from '../scope/tenant-transaction';

// The substrate's row types are interfaces, which kysely's `withTables` does not
// take; the same columns as plain object types.
type Plain<Row> = { [Column in keyof Row]: Row[Column] };
type SubstrateTables = { [Table in keyof AgentsApiDatabase]: Plain<AgentsApiDatabase[Table]> };

/**
 * The caller's transaction seen with the substrate's tables as well, so the
 * substrate's Postgres stores can run inside it, as its plain role and under
 * its row-level security (what the role may do there: migrations 0007, 0021).
 */
export function withSubstrateTables(trx: TenantTransaction): Kysely<DataMachineDatabase & SubstrateTables> {
  return trx.withTables<SubstrateTables>();
}

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
  const substrate = withSubstrateTables(trx);
  const sessions = await substrate.deleteFrom('agents_sessions').where('tenant_key', '=', tenantId).where('agent_slug', '=', agentSlug).executeTakeFirst();
  const files = await substrate.deleteFrom('agents_memory_files').where('tenant_key', '=', tenantId).where('agent_slug', '=', agentSlug).executeTakeFirst();
  return { sessions: Number(sessions.numDeletedRows), memoryFiles: Number(files.numDeletedRows) };
}

/** One memory file of no user, as the product names it (the substrate's key with its tenant). */
export interface SubstrateMemoryFile {
  readonly tenantId: string;
  readonly agentSlug: string;
  readonly layer: string;
  readonly path: string;
}

/**
 * Deletes `file` only if its content hash is still `contentHash`, in one
 * statement, so no save can land between the comparison and the deletion
 * (the substrate's store has no conditional delete). Resolves to whether it
 * deleted; the caller reads the file to say why not.
 */
export async function deleteMemoryFileIfHash(trx: TenantTransaction, file: SubstrateMemoryFile, contentHash: string): Promise<boolean> {
  const deleted = await withSubstrateTables(trx)
    .deleteFrom('agents_memory_files')
    .where('tenant_key', '=', file.tenantId)
    .where('agent_slug', '=', file.agentSlug)
    .where('layer', '=', file.layer)
    .where('user_key', '=', '')
    .where('path', '=', file.path)
    .where('content_hash', '=', contentHash)
    .executeTakeFirst();
  return deleted.numDeletedRows > 0n;
}
