import { sql, type Kysely, type Migration } from 'kysely';
import { appRole } from './0001-identity';

/**
 * Lets the product save an agent's memory files inside the transaction that
 * decided the save (`agents/agent-memory.ts`), so a save and the agent's
 * deletion, or the revocation of the editor's grant, serialize. The plain role
 * gets `insert` and `update` on the substrate's `agents_memory_files` (it
 * already had `select` and `delete`, migration 0007).
 *
 * Row-level security on that table holds the plain role, and only it, to the
 * files of an agent of the transaction's tenant (`dm.tenant_id`): the tenant
 * key is that tenant and an agent of the tenant has the slug. Every other role
 * (the host's connection the substrate's stores run on) keeps seeing and
 * writing every row: a permissive policy lets everyone through, and the
 * restrictive one narrows the plain role. Not forced, as the table's owner is
 * the substrate's host. See docs/decisions/2026-12-01-agent-editing.md.
 */
export const memoryFileWrites: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`grant insert, update on agents_memory_files to ${sql.id(appRole)}`.execute(db);
    await sql`alter table agents_memory_files enable row level security`.execute(db);
    await sql`create policy agents_memory_files_any_role on agents_memory_files using (true) with check (true)`.execute(db);
    const ownAgent = sql`tenant_key = current_setting('dm.tenant_id', true)
      and exists (select 1 from dm_agents a where a.tenant_id = agents_memory_files.tenant_key and a.slug = agents_memory_files.agent_slug)`;
    await sql`create policy agents_memory_files_own_agent on agents_memory_files as restrictive to ${sql.id(appRole)} using (${ownAgent}) with check (${ownAgent})`.execute(db);
  },
};
