import type { Selectable } from 'kysely';
import { sql } from 'kysely';
import { z } from 'zod';
import type { QueueEntryTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import type { TenantTransaction } from '../scope/tenant-transaction';

/** A flow step's queues: prompts (the AI step's user message) and config patches (deep-merged into the fetch config for one run). */
export const queueNames = ['prompt', 'config_patch'] as const;
export type QueueName = (typeof queueNames)[number];
export const queueNameSchema = z.enum(queueNames);

/** How a step reads its queue: `static` peeks the head, `drain` consumes it, `loop` consumes it and re-appends it at the tail. */
export const queueModes = ['static', 'drain', 'loop'] as const;
export type QueueMode = (typeof queueModes)[number];
export const queueModeSchema = z.enum(queueModes);

/** A prompt: the AI step's user message. */
export const promptBodySchema = z.string().min(1).max(100_000);
/** A config patch: an object deep-merged into the fetch handler's configuration for one run. */
export const configPatchBodySchema = z.record(z.string(), z.unknown());

/** What an entry holds, by queue. */
export type QueueBody<Queue extends QueueName = QueueName> = Queue extends 'prompt' ? string : Readonly<Record<string, unknown>>;

/** One entry of a queue, in queue order. */
export type QueueEntry = QueueEntryFields & ({ readonly queue: 'prompt'; readonly body: string } | { readonly queue: 'config_patch'; readonly body: Readonly<Record<string, unknown>> });

interface QueueEntryFields {
  readonly id: string;
  readonly flowId: string;
  readonly stepKey: string;
  /** Its place: smaller is nearer the head. Positions have gaps; only their order means something. */
  readonly position: number;
  /** The job that consumed it and has not settled yet, or null. */
  readonly leasedByJobId: string | null;
  readonly leasedAt: Date | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
}

/** A queue entry row as queries read it. */
export type QueueEntryRow = Selectable<QueueEntryTable>;

/** An entry row as the product shows it (bodies were validated when added). */
export function toQueueEntry(row: QueueEntryRow): QueueEntry {
  const fields: QueueEntryFields = {
    id: row.id,
    flowId: row.flow_id,
    stepKey: row.step_key,
    position: Number(row.position),
    leasedByJobId: row.leased_by_job_id,
    leasedAt: row.leased_at,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
  return row.queue === 'prompt' ? { ...fields, queue: 'prompt', body: row.body as string } : { ...fields, queue: 'config_patch', body: row.body as Record<string, unknown> };
}

/** One queue: a flow step's prompt or config-patch queue. */
export interface QueueKey {
  readonly flowId: string;
  readonly stepKey: string;
  readonly queue: QueueName;
}

/**
 * Serialises every writer that assigns positions in one queue (add, reorder,
 * a loop entry going to the tail) until the transaction ends, so two of them
 * never pick the same next position. Readers and leasing do not take it.
 */
export async function lockQueue(trx: TenantTransaction, key: QueueKey): Promise<void> {
  // JSON of the parts: an unambiguous key (no separator a step key could contain).
  const name = JSON.stringify(['dm_queue', key.flowId, key.stepKey, key.queue]);
  await sql`select pg_advisory_xact_lock(hashtextextended(${name}, 0))`.execute(trx);
}

/** The position after the queue's tail; call under {@link lockQueue}. */
export async function tailPosition(trx: TenantTransaction, key: QueueKey): Promise<number> {
  const row = await trx
    .selectFrom('dm_queue_entries')
    .select((eb) => eb.fn.max('position').as('last'))
    .where('flow_id', '=', key.flowId)
    .where('step_key', '=', key.stepKey)
    .where('queue', '=', key.queue)
    .executeTakeFirst();
  return Number(row?.last ?? 0) + 1;
}

/** The error for an entry that is not in the named queue. */
export function entryNotFound(entryId: string): DataMachineError {
  return new DataMachineError('queue.entry_not_found', `There is no queue entry "${entryId}" in this queue.`, { details: { entry: entryId } });
}
