import type { DataMachineContext } from '../context';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { lockQueue, tailPosition, toQueueEntry, type QueueEntry, type QueueMode, type QueueName } from './queue';

// Engine-facing: these run in the worker's tenant transaction and authorize
// nothing; only the engine calls them, for a job it is running.

/** What {@link takeFromQueue} takes. */
export interface QueueTake {
  readonly flowId: string;
  readonly stepKey: string;
  readonly queue: QueueName;
  readonly mode: QueueMode;
  /** The job the entry is leased to (`drain`, `loop`). */
  readonly jobId: string;
}

/**
 * The entry a job's step reads. `static` peeks the head and leases nothing.
 * `drain` and `loop` lease the first unleased entry to the job (FOR UPDATE
 * SKIP LOCKED: two jobs never take the same entry, and neither waits for the
 * other); a job that already holds a lease in this queue (a re-delivered
 * attempt) gets the same entry back. Null when there is none: the caller
 * ends the job `completed_no_items`. Engine only.
 */
export async function takeFromQueue(context: DataMachineContext, trx: TenantTransaction, take: QueueTake): Promise<QueueEntry | null> {
  const inQueue = trx.selectFrom('dm_queue_entries').where('flow_id', '=', take.flowId).where('step_key', '=', take.stepKey).where('queue', '=', take.queue);
  if (take.mode === 'static') {
    const head = await inQueue.selectAll().orderBy('position').limit(1).executeTakeFirst();
    return head ? toQueueEntry(head) : null;
  }
  const held = await inQueue.selectAll().where('leased_by_job_id', '=', take.jobId).executeTakeFirst();
  if (held) return toQueueEntry(held);
  const leased = await trx
    .updateTable('dm_queue_entries')
    .set({ leased_by_job_id: take.jobId, leased_at: context.now(), lease_mode: take.mode })
    .where('id', '=', (eb) =>
      eb
        .selectFrom('dm_queue_entries')
        .select('id')
        .where('flow_id', '=', take.flowId)
        .where('step_key', '=', take.stepKey)
        .where('queue', '=', take.queue)
        .where('leased_by_job_id', 'is', null)
        .orderBy('position')
        .limit(1)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .executeTakeFirst();
  return leased ? toQueueEntry(leased) : null;
}

/** How the job that holds leases ended. */
export type LeaseOutcome = 'success' | 'failure';

/** What {@link settleQueueLease} did to the job's leased entries. */
export interface SettledLeases {
  /** `drain` entries consumed. */
  readonly deleted: number;
  /** `loop` entries moved to their queue's tail. */
  readonly requeued: number;
  /** Entries given back where they were (failure). */
  readonly released: number;
}

/**
 * Settles every entry leased to `jobId`. Success deletes a `drain` entry and
 * moves a `loop` entry to the tail of its queue; failure clears the lease, so
 * the entry is where it was, still at the head if it was the head (never
 * moved to the tail, the original's flaw). Call it in the transaction that
 * ends the job. Engine only (and cancellation).
 */
export async function settleQueueLease(trx: TenantTransaction, jobId: string, outcome: LeaseOutcome): Promise<SettledLeases> {
  const clearLease = { leased_by_job_id: null, leased_at: null, lease_mode: null } as const;
  if (outcome === 'failure') {
    const released = await trx.updateTable('dm_queue_entries').set(clearLease).where('leased_by_job_id', '=', jobId).executeTakeFirst();
    return { deleted: 0, requeued: 0, released: Number(released.numUpdatedRows) };
  }
  const deleted = await trx.deleteFrom('dm_queue_entries').where('leased_by_job_id', '=', jobId).where('lease_mode', '=', 'drain').executeTakeFirst();
  const looped = await trx.selectFrom('dm_queue_entries').select(['id', 'flow_id', 'step_key', 'queue']).where('leased_by_job_id', '=', jobId).orderBy('position').execute();
  for (const entry of looped) {
    const key = { flowId: entry.flow_id, stepKey: entry.step_key, queue: entry.queue };
    await lockQueue(trx, key);
    await trx.updateTable('dm_queue_entries').set({ ...clearLease, position: await tailPosition(trx, key) }).where('id', '=', entry.id).execute();
  }
  return { deleted: Number(deleted.numDeletedRows), requeued: looped.length, released: 0 };
}
