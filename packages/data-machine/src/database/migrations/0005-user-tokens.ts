import { sql, type Kysely, type Migration } from 'kysely';
import { appRole } from './0001-identity';

/**
 * Personal access tokens: a user's bearer secrets, stored as SHA-256 hashes
 * with a short visible prefix. Global like `dm_users`: a token acts as its
 * user in every tenant the user belongs to, with exactly the user's rights.
 */
export const userTokens: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_user_tokens')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('user_id', 'text', (column) => column.notNull().references('dm_users.id').onDelete('cascade'))
      .addColumn('secret_hash', 'text', (column) => column.notNull().unique())
      .addColumn('prefix', 'text', (column) => column.notNull())
      .addColumn('label', 'text', (column) => column.notNull())
      .addColumn('expires_at', 'timestamptz')
      .addColumn('last_used_at', 'timestamptz')
      .addColumn('revoked_at', 'timestamptz')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('dm_user_tokens_user_idx').on('dm_user_tokens').column('user_id').execute();
    await sql`grant select, insert, update, delete on dm_user_tokens to ${sql.id(appRole)}`.execute(db);
  },
};
