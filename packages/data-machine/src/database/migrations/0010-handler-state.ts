import { sql, type Kysely, type Migration } from 'kysely';
import { appRole, enableTenantSecurity } from './0001-identity';

/**
 * What handlers remember between calls: `dm_handler_state`, one JSON document
 * per flow step (a feed's validators and watermark), and
 * `dm_remote_identities`, which maps an item key to the remote object a
 * publish handler made for it (a WordPress post id), reserved before the
 * remote call so two racing jobs create one object. See
 * docs/decisions/2026-12-01-handlers.md.
 */
export const handlerState: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_handler_state')
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('flow_id', 'text', (column) => column.notNull().references('dm_flows.id').onDelete('cascade'))
      .addColumn('step_key', 'text', (column) => column.notNull())
      .addColumn('handler', 'text', (column) => column.notNull())
      .addColumn('state', 'jsonb', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .addPrimaryKeyConstraint('dm_handler_state_pkey', ['flow_id', 'step_key', 'handler'])
      .execute();

    await db.schema
      .createTable('dm_remote_identities')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('handler', 'text', (column) => column.notNull())
      // Where the object lives (a WordPress site URL): one item key may map to a post on each site.
      .addColumn('target', 'text', (column) => column.notNull())
      .addColumn('identity_key', 'text', (column) => column.notNull())
      // Null while reserved: the remote call that creates the object has not reported back yet.
      .addColumn('remote_id', 'text')
      .addColumn('reserved_by', 'text', (column) => column.notNull())
      .addColumn('reserved_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .addUniqueConstraint('dm_remote_identities_key', ['tenant_id', 'handler', 'target', 'identity_key'])
      .execute();

    for (const table of ['dm_handler_state', 'dm_remote_identities']) {
      await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
      await enableTenantSecurity(db, table);
    }
  },
};
