import { sql, type Kysely, type Migration } from 'kysely';
import { appRole, enableTenantSecurity } from './0001-identity';

/**
 * `dm_job_effects`: the side effects a job's steps performed, by a key
 * stable across retries of the same job and step (the step's
 * `EffectsRecorder`). A re-delivered job finds what an earlier attempt did
 * instead of doing it again; the first record of a key wins.
 * See docs/decisions/2026-12-01-job-engine.md.
 */
export const jobEffects: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_job_effects')
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('job_id', 'text', (column) => column.notNull().references('dm_jobs.id').onDelete('cascade'))
      .addColumn('key', 'text', (column) => column.notNull())
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('detail', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addPrimaryKeyConstraint('dm_job_effects_pkey', ['job_id', 'key'])
      .execute();
    await sql`grant select, insert, update, delete on dm_job_effects to ${sql.id(appRole)}`.execute(db);
    await enableTenantSecurity(db, 'dm_job_effects');
  },
};
