import { sql, type Kysely, type Migration } from 'kysely';
import { appRole, enableTenantSecurity } from './0001-identity';

/**
 * What reaches a flow from outside: `dm_flow_webhooks`, a flow's inbound
 * webhook secret (sealed with the server's key, never stored in the clear),
 * and `dm_flow_files`, files uploaded to a flow for its `files` fetch. The
 * `dm_flow_webhooks_inbound` policy is the one narrow way past the tenant key:
 * an unauthenticated delivery names only its flow, so a transaction that
 * sets `dm.webhook_flow` sees that one flow's webhook row (to learn its
 * tenant and check the signature) and nothing else. See
 * docs/decisions/2026-12-01-inbound-webhooks-and-files.md.
 */
export const inbound: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_flow_webhooks')
      .addColumn('flow_id', 'text', (column) => column.primaryKey().references('dm_flows.id').onDelete('cascade'))
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('sealed_secret', 'text', (column) => column.notNull())
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('rotated_at', 'timestamptz', (column) => column.notNull())
      .execute();

    await db.schema
      .createTable('dm_flow_files')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('flow_id', 'text', (column) => column.notNull().references('dm_flows.id').onDelete('cascade'))
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('content_type', 'text', (column) => column.notNull())
      .addColumn('size', 'integer', (column) => column.notNull())
      .addColumn('sha256', 'text', (column) => column.notNull())
      .addColumn('content', 'bytea', (column) => column.notNull())
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('dm_flow_files_by_flow').on('dm_flow_files').columns(['flow_id', 'created_at', 'id']).execute();

    for (const table of ['dm_flow_webhooks', 'dm_flow_files']) {
      await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
      await enableTenantSecurity(db, table);
    }
    // A job a signed delivery started says so: source `webhook`.
    await sql`alter table dm_jobs drop constraint dm_jobs_source_check`.execute(db);
    await sql`alter table dm_jobs add constraint dm_jobs_source_check check (source in ('schedule', 'manual', 'api', 'retry', 'system', 'webhook'))`.execute(db);
    await sql`create policy dm_flow_webhooks_inbound on dm_flow_webhooks for select using (flow_id = current_setting('dm.webhook_flow', true))`.execute(db);
  },
};
