import { sql, type Kysely, type Migration } from 'kysely';
import { appRole } from './0001-identity';

/**
 * The substrate tables the plain role reads or deletes besides memory files
 * (migration 0021): `agents_sessions` (select and delete: an agent's deletion
 * clears its transcripts, migration 0007) and `agents_runs` (select: the
 * metrics' token usage, migration 0015).
 */
export const substrateTablesOfTenant = ['agents_sessions', 'agents_runs'] as const;

/**
 * Row-level security on those tables, as on `agents_memory_files`: a
 * restrictive policy holds the plain role, and only it, to the rows whose
 * tenant key is the transaction's tenant (`dm.tenant_id`); a permissive one
 * lets every role through, so the host's connection the substrate's stores
 * run on (chat turns, `ai` steps, retention) keeps seeing every row. Not
 * forced, as the tables' owner is the substrate's host.
 *
 * The tenant alone, not the agent's existence as for memory files: the plain
 * role never inserts here, and its one delete runs just before the agent row's
 * own in the same transaction. `agents_session_messages` gets no policy: the
 * plain role has no privilege on it (messages and runs go with their session
 * by the substrate's cascades, which row-level security does not apply to).
 * See docs/decisions/2026-12-01-agent-editing.md.
 */
export const substrateTenancy: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    for (const table of substrateTablesOfTenant) {
      const ownTenant = sql`tenant_key = current_setting('dm.tenant_id', true)`;
      await sql`alter table ${sql.table(table)} enable row level security`.execute(db);
      await sql`create policy ${sql.id(`${table}_any_role`)} on ${sql.table(table)} using (true) with check (true)`.execute(db);
      await sql`create policy ${sql.id(`${table}_own_tenant`)} on ${sql.table(table)} as restrictive to ${sql.id(appRole)} using (${ownTenant}) with check (${ownTenant})`.execute(db);
    }
  },
};
