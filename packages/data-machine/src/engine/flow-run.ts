import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { actingUserId } from '../access/actor';
import { claimItems } from '../items/processed-items';
import { findAgentFlow } from '../jobs/agent-flow';
import type { JobStatus } from '../jobs/job';
import { createJob, jobInsert, type CreatedJob, type NewJob } from '../jobs/job-lifecycle';
import { toJob, type JobRow } from '../jobs/job';
import { guardStatement, isGuardFailure, runScoped } from '../scope/scoped-statements';
import { findAgentJob } from '../jobs/job-repository';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import { engineDataSchema, pipelineStepsSchema } from '../steps/step';
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
export async function startFlowRun(context: DataMachineContext, engine: JobEngine, run: FlowRun): Promise<CreatedJob> {
  // An engine that only enqueues, never started, has no connection of its own on a connection string.
  const alone = engine.simpleQueryReady() ? await startFlowRunAlone(context, engine, run) : null;
  return alone ?? inTenant(context, run.tenantId, null, (trx) => startFlowRunIn(context, engine, trx, run));
}

const jobNotInserted = 'data-machine: the job was not inserted';

/**
 * {@link startFlowRun} as one batch sent alone in one round trip
 * (docs/decisions/2026-12-01-engine-speed.md, "enqueue"): the keys, the job,
 * a guard that fails the whole batch unless the job was inserted, and
 * pg-boss's insert, in one implicit transaction. Resolves null when the job
 * was not inserted (a repeated idempotency key, or no such flow): nothing
 * was written, and the transaction of {@link startFlowRunIn} tells which.
 */
async function startFlowRunAlone(context: DataMachineContext, engine: JobEngine, run: FlowRun): Promise<CreatedJob | null> {
  const id = context.newId('job');
  const statements = [
    jobInsert(context, context.db, id, run).compile(),
    guardStatement(context.db.selectFrom('dm_jobs').select('id').where('id', '=', id).compile(), jobNotInserted),
    await engine.enqueueStatement([{ tenantId: run.tenantId, jobId: id }]),
  ];
  try {
    const [inserted] = await runScoped(context, engine.simpleQuery, { tenantId: run.tenantId, userId: null }, statements);
    return { job: toJob(inserted?.[0] as JobRow), created: true };
  } catch (error) {
    if (isGuardFailure(error, jobNotInserted)) return null;
    throw new DataMachineError('engine.unavailable', 'The job engine could not take the work; nothing was started.', { cause: error });
  }
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

/** Options of {@link runFlowNow}. */
export interface RunNowOptions {
  /** Unique per flow: a second run with the same key returns the first job and starts nothing. */
  readonly idempotencyKey?: string;
  /** `manual` (an operator, the CLI) or `api`; default `manual`. */
  readonly source?: 'manual' | 'api';
}

/**
 * Runs a flow now (`flow.run`), paused or not: its job is created and
 * enqueued in one transaction, as the acting user. The same idempotency key
 * returns the first job. A missing or invisible agent or flow is `*.not_found`.
 */
export function runFlowNow(context: DataMachineContext, engine: JobEngine, scope: Scope, agentRef: string, flowRef: string, options: RunNowOptions = {}): Promise<CreatedJob> {
  return agentOperation(context, scope, 'flow.run', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    return startFlowRunIn(context, engine, trx, {
      tenantId: scope.tenantId,
      flowId: flow.id,
      source: options.source ?? 'manual',
      idempotencyKey: options.idempotencyKey ?? null,
      createdBy: actingUserId(scope.actor),
    });
  });
}

/** The statuses a job may be retried from. */
export const retryableJobStatuses: readonly JobStatus[] = ['failed', 'cancelled'];

/**
 * Retries an ended job (`flow.run`): a new job of its flow with source
 * `retry`, on the same item when it had one (claimed again for the new job).
 * Retrying the same job twice returns the first retry (its key is
 * `retry:<job>`). A job that has not failed nor been cancelled, or whose
 * item another job has processed or holds since, is `job.not_retryable`.
 */
export function retryJob(context: DataMachineContext, engine: JobEngine, scope: Scope, agentRef: string, jobId: string): Promise<CreatedJob> {
  return agentOperation(context, scope, 'flow.run', agentRef, async (trx, agent) => {
    const job = await findAgentJob(trx, agent.id, jobId, { lock: true });
    if (!retryableJobStatuses.includes(job.status)) {
      throw new DataMachineError('job.not_retryable', `The job "${jobId}" is ${job.status}; only a failed or cancelled job can be retried.`, { details: { job: jobId, status: job.status } });
    }
    const item = engineDataSchema.parse(job.engine_data).item;
    const run: FlowRun = { tenantId: scope.tenantId, flowId: job.flow_id, source: 'retry', idempotencyKey: `retry:${job.id}`, createdBy: actingUserId(scope.actor) };
    if (item === undefined) return startFlowRunIn(context, engine, trx, run);
    const created = await createJob(context, trx, { ...run, engineData: { item, outputs: {} } });
    if (!created.created) return created;
    await claimRetriedItem(context, trx, job.pipeline_id, job.flow_id, created.job.id, item.sourceKey, jobId);
    await enqueueOrThrow(engine, trx, [{ tenantId: scope.tenantId, jobId: created.job.id }]);
    return created;
  });
}

async function claimRetriedItem(context: DataMachineContext, trx: TenantTransaction, pipelineId: string, flowId: string, newJobId: string, sourceKey: string, retriedJobId: string): Promise<void> {
  const pipeline = await trx.selectFrom('dm_pipelines').select('steps').where('id', '=', pipelineId).executeTakeFirstOrThrow();
  const fetchStep = pipelineStepsSchema.parse(pipeline.steps).find((step) => step.type === 'fetch');
  if (fetchStep === undefined) return;
  const claimed = await claimItems(context, trx, { flowId, stepKey: fetchStep.key, jobId: newJobId, sourceKeys: [sourceKey], max: 1 });
  if (claimed.length === 0) {
    throw new DataMachineError('job.not_retryable', `The item "${sourceKey}" of job "${retriedJobId}" was processed or is held by another job since; it is not run again.`, {
      details: { job: retriedJobId, item: sourceKey },
    });
  }
}
