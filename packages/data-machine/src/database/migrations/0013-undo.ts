import { sql, type Kysely, type Migration } from 'kysely';
import { appRole, enableTenantSecurity } from './0001-identity';

/**
 * Undo of a job's effects. `dm_job_effects` gains an insertion order
 * (`seq`, so an undo reverses effects newest first whatever the clock says)
 * and who reverted an effect (`reverted_by`, the undo; an effect is reverted
 * at most once). `dm_undos` is the product record of an undo, itself run as
 * a pg-boss job; `dm_undo_results` is its report, one row per effect.
 * See docs/decisions/2026-12-01-effects-and-undo.md.
 */
export const undo: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`alter table dm_job_effects add column seq bigint generated always as identity`.execute(db);
    await db.schema
      .alterTable('dm_job_effects')
      .addColumn('reverted_by', 'text')
      .addColumn('reverted_at', 'timestamptz')
      .execute();
    await db.schema.createIndex('dm_job_effects_job_seq').on('dm_job_effects').columns(['job_id', 'seq']).execute();

    await db.schema
      .createTable('dm_undos')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      // The job undone (with its fan-out children); its rows go with it.
      .addColumn('job_id', 'text', (column) => column.notNull().references('dm_jobs.id').onDelete('cascade'))
      .addColumn('status', 'text', (column) => column.notNull().check(sql`status in ('pending', 'processing', 'completed', 'failed')`))
      .addColumn('status_reason', 'text')
      .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('reverted', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('skipped', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('failed', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('requested_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('started_at', 'timestamptz')
      .addColumn('finished_at', 'timestamptz')
      .execute();
    // One live undo per job: a second request while one runs is a conflict, not a race over the same effects.
    await sql`create unique index dm_undos_one_live on dm_undos (job_id) where status in ('pending', 'processing')`.execute(db);
    await db.schema.createIndex('dm_undos_job').on('dm_undos').columns(['job_id', 'created_at']).execute();

    await db.schema
      .createTable('dm_undo_results')
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull())
      .addColumn('undo_id', 'text', (column) => column.notNull().references('dm_undos.id').onDelete('cascade'))
      // The job that recorded the effect: the undone job or one of its children.
      .addColumn('job_id', 'text', (column) => column.notNull())
      .addColumn('effect_key', 'text', (column) => column.notNull())
      .addColumn('position', 'integer', (column) => column.notNull())
      .addColumn('handler', 'text')
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('outcome', 'text', (column) => column.notNull().check(sql`outcome in ('reverted', 'skipped', 'failed')`))
      .addColumn('reason', 'text')
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addPrimaryKeyConstraint('dm_undo_results_pkey', ['undo_id', 'job_id', 'effect_key'])
      .execute();

    for (const table of ['dm_undos', 'dm_undo_results']) {
      await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
      await enableTenantSecurity(db, table);
    }
  },
};
