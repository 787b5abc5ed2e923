import { sql, type Kysely, type Migration } from 'kysely';
import { appRole, enableTenantSecurity } from './0001-identity';

/** The engine's tables, every one scoped to an agent and guarded by row-level security. */
export const engineTables = [
  'dm_pipelines',
  'dm_flows',
  'dm_queue_entries',
  'dm_jobs',
  'dm_processed_items',
  'dm_job_logs',
  'dm_records',
] as const;

/**
 * The automation engine: pipelines (ordered steps), flows (a pipeline's
 * configured, scheduled instance), queue entries, jobs (the product's record
 * of a run; pg-boss executes them), processed items, job logs, and records
 * (what the built-in `records` publish handler appends). Plus each tenant's
 * retention windows. See docs/decisions/2026-12-01-engine-schema.md.
 */
export const engine: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    // Overrides of the retention windows, in days, by kind (jobs, logs, ...); absent keys keep the defaults.
    await db.schema.alterTable('dm_tenants').addColumn('retention', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`)).execute();

    await db.schema
      .createTable('dm_pipelines')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull().references('dm_agents.id').onDelete('cascade'))
      .addColumn('slug', 'text', (column) => column.notNull())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('steps', 'jsonb', (column) => column.notNull())
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .addUniqueConstraint('dm_pipelines_agent_slug_key', ['agent_id', 'slug'])
      // The target of the flows' (pipeline, agent) reference: a flow's agent is its pipeline's.
      .addUniqueConstraint('dm_pipelines_id_agent_key', ['id', 'agent_id'])
      .execute();

    await db.schema
      .createTable('dm_flows')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('pipeline_id', 'text', (column) => column.notNull())
      .addColumn('slug', 'text', (column) => column.notNull())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('step_config', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('schedule', 'jsonb', (column) => column.notNull().defaultTo(sql`'{"kind":"manual"}'::jsonb`))
      .addColumn('paused', 'boolean', (column) => column.notNull().defaultTo(false))
      .addColumn('max_items', 'integer', (column) => column.notNull().defaultTo(1).check(sql`max_items >= 1`))
      .addColumn('concurrency', 'integer', (column) => column.notNull().defaultTo(1).check(sql`concurrency >= 1`))
      .addColumn('next_run_at', 'timestamptz')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .addUniqueConstraint('dm_flows_agent_slug_key', ['agent_id', 'slug'])
      .addForeignKeyConstraint('dm_flows_pipeline_agent_fkey', ['pipeline_id', 'agent_id'], 'dm_pipelines', ['id', 'agent_id'], (constraint) =>
        constraint.onDelete('cascade'),
      )
      .execute();
    await db.schema.createIndex('dm_flows_pipeline_idx').on('dm_flows').column('pipeline_id').execute();
    // What the scheduler reads: the flows that are due.
    await sql`create index dm_flows_due_idx on dm_flows (next_run_at) where not paused and next_run_at is not null`.execute(db);

    await db.schema
      .createTable('dm_queue_entries')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('flow_id', 'text', (column) => column.notNull().references('dm_flows.id').onDelete('cascade'))
      .addColumn('step_key', 'text', (column) => column.notNull())
      .addColumn('queue', 'text', (column) => column.notNull().check(sql`queue in ('prompt', 'config_patch')`))
      // Order within (flow, step, queue); an entry keeps its position while leased, so a failed job's entry is back where it was.
      .addColumn('position', 'bigint', (column) => column.notNull())
      .addColumn('body', 'jsonb', (column) => column.notNull())
      .addColumn('leased_by_job_id', 'text')
      .addColumn('leased_at', 'timestamptz')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addUniqueConstraint('dm_queue_entries_position_key', ['flow_id', 'step_key', 'queue', 'position'])
      .execute();

    await db.schema
      .createTable('dm_jobs')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull().references('dm_agents.id').onDelete('cascade'))
      .addColumn('flow_id', 'text', (column) => column.notNull().references('dm_flows.id').onDelete('cascade'))
      .addColumn('pipeline_id', 'text', (column) => column.notNull())
      .addColumn('parent_job_id', 'text', (column) => column.references('dm_jobs.id').onDelete('cascade'))
      .addColumn('source', 'text', (column) => column.notNull().check(sql`source in ('schedule', 'manual', 'api', 'retry', 'system')`))
      .addColumn('status', 'text', (column) =>
        column
          .notNull()
          .check(sql`status in ('pending', 'processing', 'waiting', 'completed', 'completed_no_items', 'failed', 'cancelled', 'skipped')`),
      )
      .addColumn('status_reason', 'text')
      .addColumn('current_step', 'text')
      .addColumn('engine_data', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('item_key', 'text')
      .addColumn('idempotency_key', 'text')
      .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('engine_job_id', 'text')
      .addColumn('children_total', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('children_ended', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('children_failed', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('started_at', 'timestamptz')
      .addColumn('finished_at', 'timestamptz')
      .addUniqueConstraint('dm_jobs_flow_idempotency_key', ['flow_id', 'idempotency_key'])
      .execute();
    // The newest jobs of an agent, a page at a time.
    await db.schema.createIndex('dm_jobs_agent_newest_idx').on('dm_jobs').columns(['agent_id', 'created_at desc', 'id desc']).execute();
    await db.schema.createIndex('dm_jobs_flow_newest_idx').on('dm_jobs').columns(['flow_id', 'created_at desc', 'id desc']).execute();
    await db.schema.createIndex('dm_jobs_parent_idx').on('dm_jobs').column('parent_job_id').execute();
    // What concurrency checks, the reconciler and retention read: the jobs that have not ended.
    await sql`create index dm_jobs_live_idx on dm_jobs (flow_id, status) where status in ('pending', 'processing', 'waiting')`.execute(db);
    await sql`create index dm_jobs_ended_idx on dm_jobs (tenant_id, finished_at) where finished_at is not null`.execute(db);

    await db.schema
      .createTable('dm_processed_items')
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('flow_id', 'text', (column) => column.notNull().references('dm_flows.id').onDelete('cascade'))
      .addColumn('step_key', 'text', (column) => column.notNull())
      .addColumn('source_key', 'text', (column) => column.notNull())
      .addColumn('status', 'text', (column) => column.notNull().check(sql`status in ('claimed', 'done')`))
      .addColumn('job_id', 'text')
      .addColumn('claimed_at', 'timestamptz', (column) => column.notNull())
      .addColumn('done_at', 'timestamptz')
      .addPrimaryKeyConstraint('dm_processed_items_pkey', ['flow_id', 'step_key', 'source_key'])
      .execute();
    await db.schema.createIndex('dm_processed_items_done_idx').on('dm_processed_items').columns(['tenant_id', 'done_at']).execute();

    await db.schema
      .createTable('dm_job_logs')
      .addColumn('id', 'bigint', (column) => column.primaryKey().generatedAlwaysAsIdentity())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('job_id', 'text', (column) => column.references('dm_jobs.id').onDelete('cascade'))
      .addColumn('level', 'text', (column) => column.notNull().check(sql`level in ('debug', 'info', 'warn', 'error')`))
      .addColumn('message', 'text', (column) => column.notNull())
      .addColumn('context', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('dm_job_logs_job_idx').on('dm_job_logs').columns(['job_id', 'id']).execute();
    await db.schema.createIndex('dm_job_logs_agent_idx').on('dm_job_logs').columns(['agent_id', 'created_at']).execute();
    await db.schema.createIndex('dm_job_logs_age_idx').on('dm_job_logs').columns(['tenant_id', 'created_at']).execute();

    await db.schema
      .createTable('dm_records')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('flow_id', 'text', (column) => column.notNull())
      .addColumn('job_id', 'text')
      .addColumn('collection', 'text', (column) => column.notNull())
      // A retried publish with the same key finds its record instead of appending a second.
      .addColumn('idempotency_key', 'text', (column) => column.notNull())
      .addColumn('body', 'jsonb', (column) => column.notNull())
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addUniqueConstraint('dm_records_idempotency_key', ['tenant_id', 'idempotency_key'])
      .execute();
    await db.schema.createIndex('dm_records_collection_idx').on('dm_records').columns(['agent_id', 'collection', 'created_at']).execute();

    for (const table of engineTables) {
      await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
      await enableTenantSecurity(db, table);
    }
  },
};
