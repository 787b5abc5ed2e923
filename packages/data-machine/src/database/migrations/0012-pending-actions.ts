import { sql, type Kysely, type Migration } from 'kysely';
import { appRole, enableTenantSecurity } from './0001-identity';

/**
 * `dm_pending_actions`: a tool call an agent's run held for a human (the tool's
 * mode is `preview`). It keeps the exact call (tool name and arguments) that
 * accepting applies, and moves once, `pending -> applying -> accepted |
 * rejected | failed` (or `pending -> rejected`). `decided_nonce` is the signed
 * link that decided it, so a link is usable once. See
 * docs/decisions/2026-12-01-approvals.md.
 */
export const pendingActions: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_pending_actions')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('job_id', 'text', (column) => column.notNull().references('dm_jobs.id').onDelete('cascade'))
      .addColumn('step_key', 'text', (column) => column.notNull())
      .addColumn('tool_call_id', 'text', (column) => column.notNull())
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('summary', 'text', (column) => column.notNull())
      .addColumn('preview', 'jsonb', (column) => column.notNull())
      .addColumn('tool_name', 'text', (column) => column.notNull())
      .addColumn('input', 'jsonb', (column) => column.notNull())
      .addColumn('triggered_by', 'text')
      .addColumn('status', 'text', (column) => column.notNull().check(sql`status in ('pending', 'applying', 'accepted', 'rejected', 'failed')`))
      .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
      .addColumn('decided_by', 'text')
      .addColumn('decided_via', 'text')
      .addColumn('decided_nonce', 'text')
      .addColumn('decided_at', 'timestamptz')
      .addColumn('reason', 'text')
      .addColumn('result', 'jsonb')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      // One action per held call: a re-run of the step finds it instead of adding another.
      .addUniqueConstraint('dm_pending_actions_call', ['job_id', 'step_key', 'tool_call_id'])
      .execute();
    await db.schema.createIndex('dm_pending_actions_agent_created').on('dm_pending_actions').columns(['tenant_id', 'agent_id', 'created_at', 'id']).execute();
    await db.schema.createIndex('dm_pending_actions_due').on('dm_pending_actions').columns(['tenant_id', 'status', 'expires_at']).execute();
    await sql`grant select, insert, update, delete on dm_pending_actions to ${sql.id(appRole)}`.execute(db);
    await enableTenantSecurity(db, 'dm_pending_actions');
  },
};
