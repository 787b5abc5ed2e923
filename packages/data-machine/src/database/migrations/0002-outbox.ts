import { sql, type Kysely, type Migration } from 'kysely';
import { appRole } from './0001-identity';

/**
 * The outbox: events recorded in the transaction that caused them, and one
 * delivery row per (event, handler) so each handler is retried on its own.
 */
export const outbox: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_outbox_events')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('type', 'text', (column) => column.notNull())
      .addColumn('payload', 'jsonb', (column) => column.notNull())
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('dm_outbox_events_tenant_idx').on('dm_outbox_events').columns(['tenant_id', 'created_at']).execute();
    await db.schema
      .createTable('dm_outbox_deliveries')
      .addColumn('event_id', 'text', (column) => column.notNull().references('dm_outbox_events.id').onDelete('cascade'))
      .addColumn('handler', 'text', (column) => column.notNull())
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'timestamptz', (column) => column.notNull())
      .addColumn('delivered_at', 'timestamptz')
      .addColumn('last_error', 'text')
      .addPrimaryKeyConstraint('dm_outbox_deliveries_pkey', ['event_id', 'handler'])
      .execute();
    await sql`create index dm_outbox_deliveries_due_idx on dm_outbox_deliveries (tenant_id, next_attempt_at) where delivered_at is null`.execute(db);
    for (const table of ['dm_outbox_events', 'dm_outbox_deliveries']) {
      await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
      await sql`alter table ${sql.table(table)} enable row level security`.execute(db);
      await sql`alter table ${sql.table(table)} force row level security`.execute(db);
      await sql`create policy ${sql.id(`${table}_tenant`)} on ${sql.table(table)} using (tenant_id = current_setting('dm.tenant_id', true)) with check (tenant_id = current_setting('dm.tenant_id', true))`.execute(db);
    }
  },
};
