import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { createJob, type CreatedJob, type NewJob } from '../jobs/job-lifecycle';
import { inTenant, type TenantTransaction } from '../scope/tenant-transaction';
import type { EngineMessage, EnqueueOptions, JobEngine } from './job-engine';

/** What {@link startFlowRun} takes: the tenant, and the job to create. */
export interface FlowRun extends NewJob {
  readonly tenantId: string;
}

/**
 * Starts a run of a flow: creates its `pending` job and enqueues its
 * pg-boss job in one tenant transaction, so there is never a job row
 * without work nor work without a row. A repeated idempotency key returns
 * the first job and enqueues nothing. Engine-facing: the caller (the
 * scheduler, or a route that checked `flow.run`) decided the run may start.
 *
 * @example
 * const { job } = await startFlowRun(context, engine, { tenantId, flowId, source: 'manual' });
 */
export function startFlowRun(context: DataMachineContext, engine: JobEngine, run: FlowRun): Promise<CreatedJob> {
  return inTenant(context, run.tenantId, null, (trx) => startFlowRunIn(context, engine, trx, run));
}

/** {@link startFlowRun} in the caller's tenant transaction: both halves commit or roll back with it. */
export async function startFlowRunIn(context: DataMachineContext, engine: JobEngine, trx: TenantTransaction, run: FlowRun): Promise<CreatedJob> {
  const created = await createJob(context, trx, run);
  if (created.created) await enqueueOrThrow(engine, trx, [{ tenantId: run.tenantId, jobId: created.job.id }]);
  return created;
}

/** Enqueues in the transaction; a failure of pg-boss is `engine.unavailable` (and aborts the transaction). */
export async function enqueueOrThrow(engine: JobEngine, trx: TenantTransaction, messages: readonly EngineMessage[], options: EnqueueOptions = {}): Promise<readonly string[]> {
  try {
    return await engine.enqueue(trx, messages, options);
  } catch (error) {
    throw new DataMachineError('engine.unavailable', 'The job engine could not take the work; nothing was started.', { cause: error });
  }
}
