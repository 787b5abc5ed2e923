import { sql, type Kysely, type Migration } from 'kysely';

/** Memory files, sessions and their messages. */
export const memoryAndTranscripts: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('agents_memory_files')
      .addColumn('layer', 'text', (column) => column.notNull())
      .addColumn('workspace', 'text', (column) => column.notNull())
      .addColumn('agent_slug', 'text', (column) => column.notNull())
      .addColumn('user_key', 'text', (column) => column.notNull())
      .addColumn('path', 'text', (column) => column.notNull())
      .addColumn('content', 'text', (column) => column.notNull())
      .addColumn('content_hash', 'text', (column) => column.notNull())
      .addColumn('bytes', 'integer', (column) => column.notNull())
      .addColumn('metadata', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .addPrimaryKeyConstraint('agents_memory_files_pkey', ['workspace', 'agent_slug', 'layer', 'user_key', 'path'])
      .execute();

    await db.schema
      .createTable('agents_sessions')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('agent_slug', 'text', (column) => column.notNull())
      .addColumn('user_key', 'text', (column) => column.notNull())
      .addColumn('tenant_key', 'text', (column) => column.notNull())
      .addColumn('title', 'text')
      .addColumn('metadata', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('last_seq', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('lock_token', 'text')
      .addColumn('lock_expires_at', 'timestamptz')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .execute();
    // Every read is by owner; listing is newest first.
    await db.schema
      .createIndex('agents_sessions_owner_idx')
      .on('agents_sessions')
      .columns(['tenant_key', 'user_key', 'updated_at desc', 'id'])
      .execute();

    await db.schema
      .createTable('agents_session_messages')
      .addColumn('session_id', 'text', (column) => column.notNull().references('agents_sessions.id').onDelete('cascade'))
      .addColumn('seq', 'integer', (column) => column.notNull())
      .addColumn('message_id', 'text', (column) => column.notNull())
      .addColumn('user_key', 'text', (column) => column.notNull())
      .addColumn('tenant_key', 'text', (column) => column.notNull())
      .addColumn('type', 'text', (column) => column.notNull())
      .addColumn('role', 'text', (column) => column.notNull())
      .addColumn('body', 'jsonb', (column) => column.notNull())
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addPrimaryKeyConstraint('agents_session_messages_pkey', ['session_id', 'seq'])
      .execute();
    await db.schema
      .createIndex('agents_session_messages_owner_idx')
      .on('agents_session_messages')
      .columns(['tenant_key', 'user_key'])
      .execute();
  },
};
