import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { engineDataSchema } from '../steps/step';
import { enqueueOrThrow } from './flow-run';
import type { JobEngine } from './job-engine';

/** Why a job waits for a signal (its `status_reason` while `waiting`). */
export const signalWaitReason = 'signal';
/** The reason a released job carries while it is `pending` again. */
export const releasedReason = 'released';

/** What {@link signalJob} takes: the job, the signal it must be waiting for, and the payload the waiting step reads. */
export interface JobSignal {
  readonly jobId: string;
  readonly signal: string;
  /** Given to the waiting step as `StepContext.released.payload`; must be JSON. */
  readonly payload: unknown;
}

/**
 * Releases a job waiting for `signal`: stores the payload for its waiting
 * step, moves it to `pending` and enqueues it, all in the caller's tenant
 * transaction (so a release commits with whatever else the caller writes,
 * or not at all). The job row is locked first, so of two concurrent
 * releases of one wait exactly one wins; the other, and any later one, is
 * `job.not_waiting`. The caller has decided the release is allowed (a
 * valid webhook signature, an approver's right): this is engine-facing.
 *
 * @example
 * await inTenant(context, tenantId, null, (trx) => signalJob(context, engine, trx, { jobId, signal: 'webhook', payload: body }));
 */
export async function signalJob(_context: DataMachineContext, engine: JobEngine, trx: TenantTransaction, input: JobSignal): Promise<{ readonly jobId: string }> {
  const row = await trx.selectFrom('dm_jobs').select(['tenant_id', 'status', 'status_reason', 'engine_data']).where('id', '=', input.jobId).forNoKeyUpdate().executeTakeFirst();
  if (!row) throw new DataMachineError('job.not_found', 'No such job.', { details: { job: input.jobId } });
  const data = engineDataSchema.parse(row.engine_data ?? {});
  const waiting = data.waiting;
  if (row.status !== 'waiting' || row.status_reason !== signalWaitReason || waiting?.signal !== input.signal) {
    throw new DataMachineError('job.not_waiting', `The job is not waiting for "${input.signal}".`, { details: { job: input.jobId, status: row.status } });
  }
  const { waiting: _released, ...rest } = data;
  const engineData = { ...rest, released: { step: waiting.step, signal: waiting.signal, payload: input.payload ?? null } };
  await trx
    .updateTable('dm_jobs')
    .set({ status: 'pending', status_reason: releasedReason, engine_data: JSON.stringify(engineData) })
    .where('id', '=', input.jobId)
    .where('status', '=', 'waiting')
    .execute();
  await enqueueOrThrow(engine, trx, [{ tenantId: row.tenant_id, jobId: input.jobId }]);
  return { jobId: input.jobId };
}
