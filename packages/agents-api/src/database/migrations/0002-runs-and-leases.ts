import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Message ids unique per session, and durable run records: one row per
 * session run, found again by the caller's idempotency key.
 */
export const runsAndLeases: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    // An append that repeats a stored message id is refused: a retried write cannot store its input twice.
    await db.schema
      .createIndex('agents_session_messages_message_id_key')
      .on('agents_session_messages')
      .columns(['session_id', 'message_id'])
      .unique()
      .execute();

    await db.schema
      .createTable('agents_runs')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('session_id', 'text', (column) => column.notNull().references('agents_sessions.id').onDelete('cascade'))
      .addColumn('agent_slug', 'text', (column) => column.notNull())
      .addColumn('user_key', 'text', (column) => column.notNull())
      .addColumn('tenant_key', 'text', (column) => column.notNull())
      .addColumn('idempotency_key', 'text')
      .addColumn('status', 'text', (column) => column.notNull())
      .addColumn('failure_code', 'text')
      // Per-turn figures ({ model, finishReason, usage }), stored as given and not interpreted.
      .addColumn('turn_usage', 'jsonb', (column) => column.notNull().defaultTo(sql`'[]'::jsonb`))
      .addColumn('usage', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
      // What the run has spent across all its attempts: budgets count from here on resume.
      .addColumn('turns_used', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('tokens_used', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('wall_clock_ms', 'bigint', (column) => column.notNull().defaultTo(0))
      .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(1))
      .addColumn('seq_at_start', 'integer', (column) => column.notNull())
      .addColumn('result', 'jsonb')
      .addColumn('started_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .addColumn('ended_at', 'timestamptz')
      .execute();
    // NULL keys never collide: runs without a key are never deduplicated.
    await db.schema.createIndex('agents_runs_idempotency_key').on('agents_runs').columns(['session_id', 'idempotency_key']).unique().execute();
  },
};
