import { sql, type Kysely, type Migration } from 'kysely';

/**
 * A pending action held by a chat turn instead of a job's `ai` step: it names
 * the chat session (`session_id`) and has no job or step. Exactly one of
 * `job_id` and `session_id` is set; a chat session holds one action per tool
 * call, as a job step does. See docs/decisions/2026-12-01-chat-approvals.md.
 */
export const chatPendingActions: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .alterTable('dm_pending_actions')
      .addColumn('session_id', 'text')
      .alterColumn('job_id', (column) => column.dropNotNull())
      .alterColumn('step_key', (column) => column.dropNotNull())
      .execute();
    await db.schema
      .alterTable('dm_pending_actions')
      .addCheckConstraint('dm_pending_actions_holder', sql`(job_id is null) <> (session_id is null) and (job_id is null) = (step_key is null)`)
      .execute();
    await db.schema.createIndex('dm_pending_actions_session_call').on('dm_pending_actions').columns(['session_id', 'tool_call_id']).unique().execute();
  },
};
