import { sql, type Kysely, type Migration } from 'kysely';

/** The channel `dm_access_changed` notifies: the payload is the changed table's name. See docs/decisions/2026-12-01-access-cache.md. */
export const accessChangeChannel = 'dm_access_changed';

/**
 * The tables `dm_bearer_access` (migration 0019) reads, directly or through a
 * row-level security policy (`dm_agents_catalog` reads `dm_tenants`), with
 * the columns whose update changes what it answers: null for every column.
 * The tokens' `last_used_at` is left out: authentication itself writes it
 * (at most once a minute a token), and that write must not empty every
 * process's cache. `access-changes.test.ts` fails when the function reads a
 * table missing here or a token table gains a column missing here.
 */
export const accessChangeTables: Readonly<Record<string, readonly string[] | null>> = {
  dm_tenants: null,
  dm_memberships: null,
  dm_agents: null,
  dm_agent_grants: null,
  dm_user_tokens: ['id', 'user_id', 'secret_hash', 'prefix', 'label', 'expires_at', 'revoked_at', 'created_by', 'created_at'],
  dm_agent_tokens: ['id', 'tenant_id', 'agent_id', 'user_id', 'secret_hash', 'prefix', 'label', 'ceiling', 'expires_at', 'revoked_at', 'created_by', 'created_at'],
};

/**
 * The change feed of the bearer access cache: statement-level triggers
 * (a bulk write notifies once) on every table `dm_bearer_access` reads call
 * `pg_notify('dm_access_changed', <table>)`. NOTIFY is delivered at commit,
 * so a rolled-back write notifies nobody, and Postgres folds identical
 * notifications of one transaction into one.
 */
export const accessChanges: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`
      create function dm_notify_access_changed() returns trigger
      language plpgsql as $body$
      begin
        perform pg_notify(${sql.lit(accessChangeChannel)}, tg_table_name);
        return null;
      end
      $body$`.execute(db);
    for (const [table, columns] of Object.entries(accessChangeTables)) {
      const update = columns === null ? sql`update` : sql`update of ${sql.join(columns.map((column) => sql.id(column)))}`;
      await sql`create trigger ${sql.id(`${table}_access_changed`)} after insert or ${update} or delete on ${sql.table(table)}
        for each statement execute function dm_notify_access_changed()`.execute(db);
      await sql`create trigger ${sql.id(`${table}_access_truncated`)} after truncate on ${sql.table(table)}
        for each statement execute function dm_notify_access_changed()`.execute(db);
    }
  },
};
