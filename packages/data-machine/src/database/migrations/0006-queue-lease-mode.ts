import { sql, type Kysely, type Migration } from 'kysely';

/**
 * How a queue entry is leased: `drain` (deleted when the job succeeds) or
 * `loop` (moved to the tail when it succeeds). The mode is flow
 * configuration and may change while a job runs, so the lease records the
 * mode it was taken with; settling needs no other lookup.
 * See docs/decisions/2026-12-01-jobs-and-queues.md.
 */
export const queueLeaseMode: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .alterTable('dm_queue_entries')
      .addColumn('lease_mode', 'text', (column) => column.check(sql`lease_mode in ('drain', 'loop')`))
      .execute();
    // Settling reads a job's leases; the reconciler and cancellation too.
    await sql`create index dm_queue_entries_lease_idx on dm_queue_entries (leased_by_job_id) where leased_by_job_id is not null`.execute(db);
    // Claims are released and marked done by job.
    await db.schema.createIndex('dm_processed_items_job_idx').on('dm_processed_items').column('job_id').execute();
  },
};
