import type { DataMachineContext } from '../context';
import { releaseItems } from '../items/processed-items';
import { transitionJob } from '../jobs/job-lifecycle';
import { settleQueueLease } from '../queues/queue-lease';
import { inTenant, inTransaction, type TenantTransaction } from '../scope/tenant-transaction';
import { pipelineStepsSchema } from '../steps/step';
import { enqueueOrThrow } from './flow-run';
import { engineQueues, type JobEngine } from './job-engine';
import { defaultRetryPolicy, type RetryPolicies } from './retry-policy';

/** Options of {@link reconcileJobs}. */
export interface ReconcileOptions {
  readonly context: DataMachineContext;
  readonly engine: JobEngine;
  readonly retry?: RetryPolicies;
}

/** What one reconciliation did. */
export interface ReconcileReport {
  /** Processing jobs whose pg-boss job was alive. */
  readonly alive: number;
  /** Lost jobs given another attempt. */
  readonly retried: number;
  /** Lost jobs failed with reason `lost_worker`. */
  readonly failed: number;
}

// States in which pg-boss still owns (or will re-deliver) a job.
const liveBossStates: ReadonlySet<string> = new Set(['created', 'retry', 'active']);

/** The reason a job is settled with when its pg-boss job is gone or failed. */
export const lostWorkerReason = 'lost_worker';

/**
 * Keeps the invariant: no job is `processing` unless a live pg-boss job
 * owns it. Finds processing jobs whose pg-boss job is gone, failed,
 * cancelled or completed (its worker vanished and pg-boss gave up, or it
 * was removed) and settles each: another attempt when its step type has one
 * left, else `failed` with reason `lost_worker`, giving back its queue
 * leases and items. Each settle is fenced on the job's engine job and
 * attempt, so a worker that finishes meanwhile wins. Walks tenants one
 * transaction each (row-level security holds).
 */
export async function reconcileJobs(options: ReconcileOptions): Promise<ReconcileReport> {
  const { context, engine } = options;
  const tenants = await inTransaction(context, {}, (trx) => trx.selectFrom('dm_tenants').select('id').orderBy('id').execute());
  let alive = 0;
  let retried = 0;
  let failed = 0;
  for (const { id: tenantId } of tenants) {
    const processing = await inTenant(context, tenantId, null, (trx) =>
      trx.selectFrom('dm_jobs').select(['id', 'engine_job_id', 'attempts']).where('status', '=', 'processing').execute(),
    );
    for (const job of processing) {
      const bossJob = job.engine_job_id === null ? null : await engine.boss.getJobById(engineQueues.job, job.engine_job_id, { includeArchive: true });
      if (bossJob !== null && liveBossStates.has(bossJob.state)) {
        alive += 1;
        continue;
      }
      const settled = await inTenant(context, tenantId, null, (trx) => settleLostJob(options, trx, tenantId, job.id, job.engine_job_id, job.attempts));
      if (settled === 'retried') retried += 1;
      if (settled === 'failed') failed += 1;
    }
  }
  return { alive, retried, failed };
}

async function settleLostJob(
  options: ReconcileOptions,
  trx: TenantTransaction,
  tenantId: string,
  jobId: string,
  engineJobId: string | null,
  attempts: number,
): Promise<'retried' | 'failed' | 'moved'> {
  const { context } = options;
  const row = await trx.selectFrom('dm_jobs').select(['status', 'engine_job_id', 'attempts', 'pipeline_id', 'current_step']).where('id', '=', jobId).forNoKeyUpdate().executeTakeFirst();
  if (!row || row.status !== 'processing' || row.engine_job_id !== engineJobId || row.attempts !== attempts) return 'moved';
  const pipeline = await trx.selectFrom('dm_pipelines').select('steps').where('id', '=', row.pipeline_id).executeTakeFirst();
  const stepType = pipelineStepsSchema.safeParse(pipeline?.steps).data?.find((step) => step.key === row.current_step)?.type;
  const policy = (stepType === undefined ? undefined : options.retry?.[stepType]) ?? defaultRetryPolicy;
  const error = { code: 'engine.lost_worker', message: 'The worker running this job stopped answering and its pg-boss job ended.' };
  const fence = engineJobId === null ? {} : { engineJobId };
  if (attempts < policy.maxAttempts) {
    await transitionJob(context, trx, jobId, { to: 'pending', reason: lostWorkerReason, error }, fence);
    await enqueueOrThrow(options.engine, trx, [{ tenantId, jobId }], { delayMs: policy.backoffMs(attempts) });
    return 'retried';
  }
  await transitionJob(context, trx, jobId, { to: 'failed', reason: lostWorkerReason, error }, fence);
  await settleQueueLease(trx, jobId, 'failure');
  await releaseItems(trx, { jobId });
  return 'failed';
}
