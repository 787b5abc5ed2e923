import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Tenancy under one name, and the indexes of the listing and deleting queries.
 * - Memory's `workspace` becomes `tenant_key` (`''` for no tenant), as on sessions.
 * - Listings page by (updated_at desc, id desc), ids compared bytewise
 *   (`collate "C"`) so the order is the same under any database locale:
 *   `agents_sessions_owner_idx` serves `listSessions` and `deleteUserData`,
 *   `agents_sessions_agent_idx` serves `listAgentSessions`,
 *   `agents_sessions_retention_idx` serves `deleteSessionsBefore` (oldest first).
 * - `agents_memory_files_user_idx` serves the memory store's `deleteUserData`.
 */
export const tenancy: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`alter table agents_memory_files rename column workspace to tenant_key`.execute(db);
    await sql`create index agents_memory_files_user_idx on agents_memory_files (tenant_key, user_key)`.execute(db);

    // The 0001 index ordered ties by id ascending; a keyset page needs both keys descending.
    await sql`drop index agents_sessions_owner_idx`.execute(db);
    await sql`create index agents_sessions_owner_idx on agents_sessions (tenant_key, user_key, updated_at desc, id collate "C" desc)`.execute(db);
    await sql`create index agents_sessions_agent_idx on agents_sessions (tenant_key, agent_slug, updated_at desc, id collate "C" desc)`.execute(db);
    await sql`create index agents_sessions_retention_idx on agents_sessions (tenant_key, updated_at, id)`.execute(db);
  },
};
