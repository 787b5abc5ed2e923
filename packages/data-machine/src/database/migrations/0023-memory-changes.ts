import { sql, type Kysely, type Migration } from 'kysely';

/** The channel `dm_memory_changed` notifies when an agent's memory files change. See docs/decisions/2026-12-01-chat-first-byte.md. */
export const memoryChangeChannel = 'dm_memory_changed';

/**
 * The change feed of the memory-prompt cache: a statement-level trigger (a
 * bulk write notifies once) after insert, update, delete and truncate on the
 * substrate's `agents_memory_files` calls `pg_notify('dm_memory_changed',
 * <table>)`. A channel of its own, not `dm_access_changed`: an agent writing
 * its memory must not empty every process's access cache. NOTIFY is delivered
 * at commit, so a rolled-back write notifies nobody.
 */
export const memoryChanges: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`
      create function dm_notify_memory_changed() returns trigger
      language plpgsql as $body$
      begin
        perform pg_notify(${sql.lit(memoryChangeChannel)}, tg_table_name);
        return null;
      end
      $body$`.execute(db);
    await sql`create trigger agents_memory_files_memory_changed after insert or update or delete on agents_memory_files
      for each statement execute function dm_notify_memory_changed()`.execute(db);
    await sql`create trigger agents_memory_files_memory_truncated after truncate on agents_memory_files
      for each statement execute function dm_notify_memory_changed()`.execute(db);
  },
};
