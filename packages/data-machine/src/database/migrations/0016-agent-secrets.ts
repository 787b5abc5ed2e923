import { sql, type Kysely, type Migration } from 'kysely';
import { appRole, enableTenantSecurity } from './0001-identity';

/**
 * `dm_agent_secrets`: credentials an agent's handlers use (a WordPress
 * application password, an API key), by name, sealed with the server's
 * secret key (AES-256-GCM, bound to tenant, agent and name). Flows name a
 * secret; they never hold one. See docs/decisions/2026-12-01-handler-secrets.md.
 */
export const agentSecrets: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_agent_secrets')
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull().references('dm_agents.id').onDelete('cascade'))
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('sealed', 'text', (column) => column.notNull())
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .addPrimaryKeyConstraint('dm_agent_secrets_pkey', ['agent_id', 'name'])
      .execute();
    await sql`grant select, insert, update, delete on dm_agent_secrets to ${sql.id(appRole)}`.execute(db);
    await enableTenantSecurity(db, 'dm_agent_secrets');
  },
};
