import { sql, type Kysely, type Migration } from 'kysely';
import { appRole } from './0001-identity';

/**
 * The scheduler's state. `dm_scheduler_leases` holds the lease that lets one
 * scheduler run at a time; `dm_system_tasks` holds when each recurring system
 * task (retention) next runs, shared by every process. A flow's
 * `schedule_claimed_until` marks a tick a scheduler has taken but not yet
 * settled: it is retried when the claim runs out, never run twice (the job's
 * idempotency key is the tick). The `dm_flows_due_scan` policy is the one
 * narrow way past the tenant key: a transaction that sets `dm.scan` to
 * `due_flows` sees which flows are due in every tenant, and only those.
 * See docs/decisions/2026-12-01-scheduling-and-retention.md.
 */
export const scheduler: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema.alterTable('dm_flows').addColumn('schedule_claimed_until', 'timestamptz').execute();
    await sql`create policy dm_flows_due_scan on dm_flows for select using (current_setting('dm.scan', true) = 'due_flows' and not paused and next_run_at is not null)`.execute(db);

    await db.schema
      .createTable('dm_scheduler_leases')
      .addColumn('name', 'text', (column) => column.primaryKey())
      .addColumn('holder', 'text', (column) => column.notNull())
      .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('dm_system_tasks')
      .addColumn('name', 'text', (column) => column.primaryKey())
      .addColumn('next_run_at', 'timestamptz', (column) => column.notNull())
      .addColumn('last_run_at', 'timestamptz')
      .execute();
    for (const table of ['dm_scheduler_leases', 'dm_system_tasks']) {
      await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
    }
  },
};
