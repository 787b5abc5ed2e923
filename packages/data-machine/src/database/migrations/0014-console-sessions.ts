import { sql, type Kysely, type Migration } from 'kysely';
import { appRole } from './0001-identity';

/**
 * The web console's sign-in: `dm_console_sessions`, one row per cookie
 * session (its secret and CSRF token stored as SHA-256 hashes, an idle and
 * an absolute expiry, revocation), and `dm_login_link_uses`, the ids of
 * one-time login links already redeemed (a link itself is a signed token
 * with no row until it is used). Global like `dm_user_tokens`: a session is
 * a user's, in every tenant they belong to. See
 * docs/decisions/2026-12-01-console.md.
 */
export const consoleSessions: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_console_sessions')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('secret_hash', 'text', (column) => column.notNull().unique())
      .addColumn('user_id', 'text', (column) => column.notNull().references('dm_users.id').onDelete('cascade'))
      // The tenant the console last chose; a request may still name another with x-tenant.
      .addColumn('tenant_id', 'text', (column) => column.references('dm_tenants.id').onDelete('set null'))
      .addColumn('csrf_hash', 'text', (column) => column.notNull())
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('last_seen_at', 'timestamptz', (column) => column.notNull())
      .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
      .addColumn('revoked_at', 'timestamptz')
      .execute();
    await db.schema.createIndex('dm_console_sessions_user_idx').on('dm_console_sessions').column('user_id').execute();
    await db.schema
      .createTable('dm_login_link_uses')
      .addColumn('link_id', 'text', (column) => column.primaryKey())
      .addColumn('user_id', 'text', (column) => column.notNull().references('dm_users.id').onDelete('cascade'))
      .addColumn('used_at', 'timestamptz', (column) => column.notNull())
      // After this the link is refused as expired anyway: the row may be deleted.
      .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
      .execute();
    for (const table of ['dm_console_sessions', 'dm_login_link_uses']) {
      await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
    }
  },
};
