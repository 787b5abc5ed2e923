import { randomUUID } from 'node:crypto';
import type { CompiledQuery } from 'kysely';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { effectiveHandlerConfig, type FlowStepConfig } from '../flows/flow-step-config';
import type { HandlerRegistry } from '../handlers/handler-registry';
import { claimItems, markItemsDone, releaseItems } from '../items/processed-items';
import { endedJobStatuses, type Job, type JobError } from '../jobs/job';
import { createChildJobs, recordJobProgress, startDelivery, transitionJob, transitionUnheldJob, type JobProgress, type RunStatement, type StartedDelivery } from '../jobs/job-lifecycle';
import { jobLogsInsert, writeJobLogs, type JobLogEntry, type JobLogsInsert, type LogLevel } from '../logs/job-log';
import { settleQueueLease, takeFromQueue } from '../queues/queue-lease';
import type { QueueMode, QueueName } from '../queues/queue';
import { guardStatement, isGuardFailure, runScoped, runScopedBatch } from '../scope/scoped-statements';
import { commitSynchronously, inTenant, type TenantTransaction, type TransactionOptions } from '../scope/tenant-transaction';
import { engineDataSchema, pipelineStepsSchema, type EngineData, type FetchedItem, type PipelineStep, type Step, type StepContext, type StepLogger, type StepResult, type StepType } from '../steps/step';
import { createJobEffectsRecorder, findEffect, forgetEffect, recordEffect } from './job-effects';
import type { EngineMessage, JobEngine } from './job-engine';
import { enqueueOrThrow } from './flow-run';
import { signalWaitReason } from './job-signals';
import { defaultRetryPolicy, isPermanentError, type RetryPolicies, type RetryPolicy } from './retry-policy';

/** The step implementations the executor runs, by type; a type without one fails its jobs with `step.not_registered`. */
export type StepRegistry = Partial<Record<StepType, Step>>;

/** Where the engine writes process logs (pino fits). */
export interface ProcessLogger {
  info(entry: Readonly<Record<string, unknown>>, message: string): void;
  error(entry: Readonly<Record<string, unknown>>, message: string): void;
}

/** What the executor runs with. */
export interface JobExecutorOptions {
  readonly context: DataMachineContext;
  readonly engine: JobEngine;
  readonly steps: StepRegistry;
  readonly handlers: HandlerRegistry;
  readonly retry?: RetryPolicies;
  readonly processLogger?: ProcessLogger;
}

/** How one execution of a job ended, as the worker sees it. */
export type ExecutionOutcome =
  | 'completed'
  | 'completed_no_items'
  | 'fanned_out'
  | 'waiting'
  | 'retrying'
  | 'failed'
  /** The job was not this engine job's to run (ended, cancelled, or owned by another). */
  | 'stale';

/** The job is no longer this execution's: it ended, was cancelled, or another engine job owns it. */
class LostOwnership extends Error {}

interface Ownership {
  readonly tenantId: string;
  readonly jobId: string;
  readonly engineJobId: string;
  readonly attempt: number;
  /** Given by a worker that completes its deliveries itself (see {@link DeliveryCompletion}). */
  readonly completion?: DeliveryCompletion;
}

/**
 * A worker's note about one pg-boss delivery, handed to {@link executeJob}:
 * when the job ends alone, the execution completes the delivery in the same
 * round trip and sets `completed`, so the worker does not complete it again.
 */
export interface DeliveryCompletion {
  completed: boolean;
}

interface Plan {
  readonly job: Job;
  readonly steps: readonly PipelineStep[];
  readonly stepConfig: Readonly<Record<string, FlowStepConfig>>;
  readonly maxItems: number;
  /** The tenant's allowance for its handlers to reach private addresses. */
  readonly allowPrivateAddresses: boolean;
  /**
   * Whether the end may be one statement alone ({@link endJob}): no parent to
   * count on, and no step or item that leaves queue leases or claims to settle.
   */
  readonly endsAlone: boolean;
}

/**
 * How the executor's transactions commit: asynchronously. Each is lost in a
 * database crash only together with the pg-boss completion of its delivery
 * (which commits after it, or in the same transaction when the job ends
 * alone), so pg-boss re-delivers and the job resumes from its last durable
 * state, as after a worker crash; the one
 * write that guards an effect outside the database, a step's start mark,
 * commits synchronously ({@link prepareStep}). See
 * docs/decisions/2026-12-01-engine-speed.md, "commits".
 */
export const engineCommit: TransactionOptions = { asynchronousCommit: true };

/** Why a fan-out parent waits. */
export const fanOutReason = 'children_running';

const startMarker = (stepKey: string): string => `step:${stepKey}:started`;

/**
 * Executes one delivery of a product job under the pg-boss job
 * `engineJobId`: starts it (a stale delivery does nothing), runs its
 * remaining steps in order, each outside any transaction, and records each
 * step's output; then ends, retries, fans out or waits, each in one tenant
 * transaction fenced by the engine job and attempt that own the job.
 * Step failures are outcomes, not exceptions: only an infrastructure
 * failure (the database) throws, and pg-boss re-delivers the job.
 * `started` is the start the worker's fetch already did (null: stale);
 * without it the execution starts the job itself.
 */
export async function executeJob(
  options: JobExecutorOptions,
  message: EngineMessage,
  engineJobId: string,
  signal: AbortSignal,
  started?: StartedDelivery | null,
  completion?: DeliveryCompletion,
): Promise<ExecutionOutcome> {
  const { context } = options;
  // The start is one statement, sent alone with its keys in one round trip (no transaction around
  // it), or done already in the fetch's (docs/decisions/2026-12-01-engine-speed.md, "one round trip").
  const delivery =
    started !== undefined
      ? started
      : await startDelivery(context, alone(options, message.tenantId), message.jobId, {
          engineJobId,
          heldReasons: [fanOutReason, signalWaitReason],
          ...(message.wake === undefined ? {} : { wake: { reason: signalWaitReason, id: message.wake } }),
        });
  if (delivery === null) return 'stale';
  const steps = pipelineStepsSchema.parse(delivery.steps);
  const plan: Plan = {
    job: delivery.job,
    steps,
    stepConfig: delivery.stepConfig as Record<string, FlowStepConfig>,
    maxItems: delivery.maxItems,
    allowPrivateAddresses: delivery.allowPrivateAddresses,
    endsAlone: delivery.job.parentJobId === null && engineDataSchema.parse(delivery.job.engineData).item === undefined && !steps.some((step) => step.type === 'fetch' || step.type === 'ai'),
  };
  const owner: Ownership = { tenantId: message.tenantId, jobId: message.jobId, engineJobId, attempt: plan.job.attempts, ...(completion === undefined ? {} : { completion }) };
  const logger = createBufferedLogger(options, owner);
  try {
    return await runSteps(options, owner, plan, logger, signal);
  } catch (error) {
    if (error instanceof LostOwnership) return settleLost(options, owner);
    throw error;
  }
}

/** Runs one statement alone, in one round trip with the tenant's keys, committed asynchronously ({@link engineCommit}). */
function alone(options: JobExecutorOptions, tenantId: string): RunStatement {
  return async <Row>(query: CompiledQuery<Row>) => {
    const [rows] = await runScoped(options.context, options.engine.simpleQuery, { tenantId, userId: null }, [query], engineCommit);
    return (rows ?? []) as readonly Row[];
  };
}

const deliveryNotEnded = 'data-machine: the job did not end under its delivery';

/**
 * {@link alone} for the statement that ends a job, with pg-boss's completion
 * of its delivery in the same round trip and implicit transaction
 * (docs/decisions/2026-12-01-engine-speed.md, "fifth pass"): the completion
 * first (as the connection's role, as the fetch), then the keys, the end, and
 * a guard that fails the whole batch unless the job is now ended under this
 * delivery. So a delivery is completed only with its job's end, never while
 * the job is `processing`; when the end did not apply (stale, or it holds
 * something) nothing was written and the caller ends it the full way.
 */
function aloneCompleting(options: JobExecutorOptions, owner: Ownership): RunStatement {
  const { context } = options;
  return async <Row>(query: CompiledQuery<Row>) => {
    const ended = context.db
      .selectFrom('dm_jobs')
      .select('id')
      .where('id', '=', owner.jobId)
      .where('engine_job_id', '=', owner.engineJobId)
      .where('status', 'in', [...endedJobStatuses])
      .compile();
    try {
      const { rows } = await runScopedBatch(context, options.engine.simpleQuery, {
        leading: [await options.engine.completeStatement([owner.engineJobId])],
        keys: { tenantId: owner.tenantId, userId: null },
        statements: [query, guardStatement(ended, deliveryNotEnded)],
        options: engineCommit,
      });
      if (owner.completion !== undefined) owner.completion.completed = true;
      return (rows[0] ?? []) as readonly Row[];
    } catch (error) {
      if (isGuardFailure(error, deliveryNotEnded)) return [];
      throw error;
    }
  };
}

async function runSteps(options: JobExecutorOptions, owner: Ownership, plan: Plan, logger: BufferedLogger, signal: AbortSignal): Promise<ExecutionOutcome> {
  let data: EngineData = engineDataSchema.parse(plan.job.engineData);
  // The previous step's progress, when it rides on this step's preparation instead of a
  // transaction of its own (docs/decisions/2026-12-01-engine-speed.md, "progress").
  let carried: JobProgress | undefined;
  for (let index = firstPendingStep(plan.steps, data); index < plan.steps.length; index += 1) {
    const step = plan.steps[index] as PipelineStep;
    const implementation = options.steps[step.type];
    let result: StepResult;
    try {
      if (!implementation) throw new DataMachineError('step.not_registered', `No implementation of the "${step.type}" step is registered with this worker.`, { details: { step: step.key, type: step.type } });
      // A step without a queue that is retry-safe needs no transaction before it runs.
      const prepared: Prepared = needsPreparation(step, implementation)
        ? await owned(options, owner, logger, (trx) => prepareStep(options, trx, owner, plan, step, implementation), carried)
        : handlerConfigOf(options, plan, step, {});
      // Committed with the preparation.
      carried = undefined;
      if (prepared === 'no_items') return endJob(options, owner, plan, logger, { to: 'completed_no_items', reason: 'queue_empty' });
      const input = index === 0 ? null : (data.outputs[(plan.steps[index - 1] as PipelineStep).key] ?? data.item?.data ?? null);
      logger.log('info', { step: step.key, type: step.type }, 'step started');
      result = await implementation.execute(
        { value: input, ...(prepared.prompt === undefined ? {} : { prompt: prepared.prompt }) },
        {
          tenantId: owner.tenantId,
          agentId: plan.job.agentId,
          pipelineId: plan.job.pipelineId,
          flowId: plan.job.flowId,
          jobId: owner.jobId,
          step,
          logger,
          engineData: data,
          effects: createJobEffectsRecorder(options.context, owner.tenantId, owner.jobId),
          allowPrivateAddresses: plan.allowPrivateAddresses,
          signal,
          ...signalState(data, step),
          ...prepared,
        },
      );
    } catch (error) {
      if (error instanceof LostOwnership) throw error;
      // A preparation that failed rolled back the progress it carried: the failure records it.
      return failStep(options, owner, logger, step, error, carried);
    }
    if (result.kind === 'items') {
      const outcome = await takeItems(options, owner, plan, logger, step, result.items);
      if (typeof outcome === 'string') return outcome;
      data = outcome.engineData;
      continue;
    }
    if (result.kind === 'wait') return result.signal === undefined ? waitJob(options, owner, logger, step, data, result.until) : waitForSignal(options, owner, logger, step, data, result);
    data = { ...withoutSignalState(data), outputs: { ...data.outputs, [step.key]: result.output ?? null } };
    const next = plan.steps[index + 1]?.key ?? step.key;
    const progress = data;
    logger.log('info', { step: step.key }, 'step completed');
    // The last step's output is recorded by the transaction that ends the job.
    if (index + 1 === plan.steps.length) return endJob(options, owner, plan, logger, { to: 'completed' }, { engineData: progress });
    // A next step that opens a transaction before it runs records this progress there; otherwise record it now.
    const nextStep = plan.steps[index + 1] as PipelineStep;
    const nextImplementation = options.steps[nextStep.type];
    if (nextImplementation !== undefined && needsPreparation(nextStep, nextImplementation)) carried = { currentStep: next, engineData: progress };
    else await recordProgress(options, owner, logger, { currentStep: next, engineData: progress });
  }
  return endJob(options, owner, plan, logger, { to: 'completed' });
}

/** The first step without a recorded output; a child of a fan-out starts after the fetch its parent ran. */
function firstPendingStep(steps: readonly PipelineStep[], data: EngineData): number {
  const index = steps.findIndex((step, position) => !(step.key in data.outputs) && !(position === 0 && step.type === 'fetch' && data.item !== undefined));
  return index === -1 ? steps.length : index;
}

type Prepared = { readonly handlerConfig?: unknown; readonly prompt?: string } | 'no_items';

/**
 * Before a step runs: take its queue entry (`config_patch` for a fetch,
 * `prompt` for an ai step) by the flow's mode, parse its handler
 * configuration, and mark a step that is not retry-safe as started (a
 * re-delivery that finds the mark refuses to run it again).
 */
async function prepareStep(options: JobExecutorOptions, trx: TenantTransaction, owner: Ownership, plan: Plan, step: PipelineStep, implementation: Step): Promise<Prepared> {
  const flowConfig = plan.stepConfig[step.key];
  const queue: QueueName | null = step.type === 'fetch' ? 'config_patch' : step.type === 'ai' ? 'prompt' : null;
  let patch: Record<string, unknown> = {};
  let prompt: string | undefined;
  if (queue !== null) {
    const mode: QueueMode = flowConfig?.queues?.[queue] ?? 'static';
    const entry = await takeFromQueue(options.context, trx, { flowId: plan.job.flowId, stepKey: step.key, queue, mode, jobId: owner.jobId });
    if (entry === null && mode !== 'static') return 'no_items';
    if (entry?.queue === 'config_patch') patch = { ...entry.body };
    if (entry?.queue === 'prompt') prompt = entry.body;
  }
  if (implementation.retrySafe !== true) {
    if (await findEffect(trx, owner.jobId, startMarker(step.key))) {
      throw new DataMachineError('step.unsafe_retry', `Step "${step.key}" was interrupted and is not safe to run again; its side effect may or may not have happened.`, { details: { step: step.key } });
    }
    // The mark guards an effect outside the database: it must be on disk before the step runs.
    await commitSynchronously(trx);
    await recordEffect(options.context, trx, owner.jobId, { key: startMarker(step.key), kind: 'step_started', detail: { attempt: owner.attempt } });
  }
  return { ...handlerConfigOf(options, plan, step, patch), ...(prompt === undefined ? {} : { prompt }) };
}

function needsPreparation(step: PipelineStep, implementation: Step): boolean {
  return step.type === 'fetch' || step.type === 'ai' || implementation.retrySafe !== true;
}

function handlerConfigOf(options: JobExecutorOptions, plan: Plan, step: PipelineStep, patch: Record<string, unknown>): { readonly handlerConfig?: unknown } {
  const handlerConfig = 'handler' in step ? effectiveHandlerConfig(step, plan.stepConfig[step.key], options.handlers, patch) : undefined;
  return handlerConfig === undefined ? {} : { handlerConfig };
}

/**
 * A fetch's items: claimed up to the flow's max items (after
 * de-duplication). None ends the job `completed_no_items`; one continues
 * in this job; several make it a parent, each item a child job, inserted
 * and enqueued in batches in the transaction that moves the parent to `waiting`.
 */
async function takeItems(options: JobExecutorOptions, owner: Ownership, plan: Plan, logger: BufferedLogger, step: PipelineStep, items: readonly FetchedItem[]): Promise<ExecutionOutcome | { readonly engineData: EngineData }> {
  const { context } = options;
  const byKey = new Map(items.map((item) => [item.sourceKey, item]));
  return owned(options, owner, logger, async (trx): Promise<ExecutionOutcome | { readonly engineData: EngineData }> => {
    const claimed = await claimItems(context, trx, { flowId: plan.job.flowId, stepKey: step.key, jobId: owner.jobId, sourceKeys: items.map((item) => item.sourceKey), max: plan.maxItems });
    logger.log('info', { step: step.key, fetched: items.length, claimed: claimed.length }, 'items fetched');
    if (claimed.length === 0) return endIn(options, trx, owner, logger, { to: 'completed_no_items', reason: 'no_new_items' });
    if (claimed.length === 1) {
      const item = byKey.get(claimed[0] as string) as FetchedItem;
      const engineData: EngineData = { item: { sourceKey: item.sourceKey, data: item.data }, outputs: { [step.key]: item.data ?? null } };
      const next = plan.steps[plan.steps.indexOf(step) + 1]?.key ?? step.key;
      await recordJobProgress(trx, owner.jobId, { currentStep: next, engineData }, { engineJobId: owner.engineJobId });
      return { engineData };
    }
    const children = await createChildJobs(
      context,
      trx,
      owner.jobId,
      claimed.map((sourceKey) => ({ itemKey: sourceKey, engineData: { item: { sourceKey, data: byKey.get(sourceKey)?.data ?? null }, outputs: {} } })),
    );
    // The parent's part ends here: its config patch did its work, whatever becomes of the children.
    await settleQueueLease(trx, owner.jobId, 'success');
    for (let start = 0; start < children.length; start += 500) {
      await enqueueOrThrow(
        options.engine,
        trx,
        children.slice(start, start + 500).map((child) => ({ tenantId: owner.tenantId, jobId: child.id })),
      );
    }
    const moved = await transitionJob(context, trx, owner.jobId, { to: 'waiting', reason: fanOutReason }, { engineJobId: owner.engineJobId });
    if (moved === null) throw new LostOwnership();
    return 'fanned_out';
  });
}

/** A timed wait: the job waits until `until`, then goes on after the step (whose output is null). */
async function waitJob(options: JobExecutorOptions, owner: Ownership, logger: BufferedLogger, step: PipelineStep, data: EngineData, until: Date): Promise<ExecutionOutcome> {
  return owned(options, owner, logger, async (trx): Promise<ExecutionOutcome> => {
    await recordJobProgress(trx, owner.jobId, { engineData: { ...data, outputs: { ...data.outputs, [step.key]: null } } }, { engineJobId: owner.engineJobId });
    const moved = await transitionJob(options.context, trx, owner.jobId, { to: 'waiting', reason: 'timer' }, { engineJobId: owner.engineJobId });
    if (moved === null) throw new LostOwnership();
    await enqueueOrThrow(options.engine, trx, [{ tenantId: owner.tenantId, jobId: owner.jobId }], { startAfter: until });
    return 'waiting';
  });
}

/**
 * A signal wait: the job waits (reason `signal`) for `signalJob` or the
 * deadline, whichever comes first; either runs the same step again. The
 * step's start mark is dropped, since running it again is the plan, and
 * its queue leases and items stay with the job.
 */
async function waitForSignal(options: JobExecutorOptions, owner: Ownership, logger: BufferedLogger, step: PipelineStep, data: EngineData, wait: { readonly signal: string; readonly until?: Date }): Promise<ExecutionOutcome> {
  const id = randomUUID();
  const waiting = { step: step.key, signal: wait.signal, id, ...(wait.until === undefined ? {} : { until: wait.until.toISOString() }) };
  return owned(options, owner, logger, async (trx): Promise<ExecutionOutcome> => {
    await recordJobProgress(trx, owner.jobId, { currentStep: step.key, engineData: { ...withoutSignalState(data), waiting } }, { engineJobId: owner.engineJobId });
    await forgetEffect(trx, owner.jobId, startMarker(step.key));
    const moved = await transitionJob(options.context, trx, owner.jobId, { to: 'waiting', reason: signalWaitReason }, { engineJobId: owner.engineJobId });
    if (moved === null) throw new LostOwnership();
    if (wait.until !== undefined) await enqueueOrThrow(options.engine, trx, [{ tenantId: owner.tenantId, jobId: owner.jobId, wake: id }], { startAfter: wait.until });
    logger.log('info', { step: step.key, signal: wait.signal, until: waiting.until ?? null }, 'waiting for a signal');
    await logger.flush(trx);
    return 'waiting';
  });
}

/** What a step that waited for a signal learns when it runs again: its release, or (woken by the deadline) the wait it was in. */
function signalState(data: EngineData, step: PipelineStep): Pick<StepContext, 'released' | 'wait'> {
  if (data.released?.step === step.key) return { released: { signal: data.released.signal, payload: data.released.payload } };
  if (data.waiting?.step === step.key) return { wait: { signal: data.waiting.signal, ...(data.waiting.until === undefined ? {} : { until: new Date(data.waiting.until) }) } };
  return {};
}

function withoutSignalState(data: EngineData): EngineData {
  const { waiting: _waiting, released: _released, ...rest } = data;
  return rest;
}

/** A step failed: retried later with the step type's backoff, or (permanent, or out of attempts) the job fails and gives back its leases and items. */
function failStep(options: JobExecutorOptions, owner: Ownership, logger: BufferedLogger, step: PipelineStep, error: unknown, progress?: JobProgress): Promise<ExecutionOutcome> {
  return owned(options, owner, logger, (trx) => failStepIn(options, trx, owner, logger, step, error), progress);
}

/** {@link failStep} in a transaction that already holds the job (fenced). */
async function failStepIn(options: JobExecutorOptions, trx: TenantTransaction, owner: Ownership, logger: BufferedLogger, step: PipelineStep, error: unknown): Promise<ExecutionOutcome> {
  const jobError = toJobError(error);
  const permanent = isPermanentError(error);
  const policy: RetryPolicy = options.retry?.[step.type] ?? defaultRetryPolicy;
  logger.log('error', { step: step.key, code: jobError.code, permanent, attempt: owner.attempt }, `step failed: ${jobError.message}`);
  if (permanent || owner.attempt >= policy.maxAttempts) return endIn(options, trx, owner, logger, { to: 'failed', reason: permanent ? 'permanent_error' : 'retries_exhausted', error: jobError });
  // The step reported its own failure: the next attempt may run it (only a vanished worker leaves the mark).
  if (jobError.code !== 'step.unsafe_retry') await forgetEffect(trx, owner.jobId, startMarker(step.key));
  const moved = await transitionJob(options.context, trx, owner.jobId, { to: 'pending', reason: 'retrying', error: jobError }, { engineJobId: owner.engineJobId, logLines: logger.take() });
  if (moved === null) throw new LostOwnership();
  await enqueueOrThrow(options.engine, trx, [{ tenantId: owner.tenantId, jobId: owner.jobId }], { delayMs: policy.backoffMs(owner.attempt) });
  return 'retrying';
}

type EndChange = { readonly to: 'completed' | 'completed_no_items'; readonly reason?: string } | { readonly to: 'failed'; readonly reason: string; readonly error: JobError };

/**
 * Ends the job. One that ends alone (see {@link Plan.endsAlone}) ends in one
 * statement sent alone in one round trip (`transitionUnheldJob`: the fenced
 * move, guarded by holding nothing, with its log lines); if that move did
 * not apply, or the job may hold something, in a transaction of its own,
 * whose first statement is the fenced move (no lock read before it).
 */
async function endJob(options: JobExecutorOptions, owner: Ownership, plan: Plan, logger: BufferedLogger, change: EndChange, progress?: JobProgress): Promise<ExecutionOutcome> {
  if (plan.endsAlone) {
    const ended = await transitionUnheldJob(options.context, owner.completion === undefined ? alone(options, owner.tenantId) : aloneCompleting(options, owner), owner.jobId, change, {
      ...fenceOf(owner),
      ...(progress === undefined ? {} : { progress }),
      logLines: logger.peek(endLine(change)),
    });
    if (ended !== null) return reportEnd(options, owner, change);
    // Stale, or it holds something after all: the full way tells which, and settles.
  }
  return inTenant(options.context, owner.tenantId, null, (trx) => endIn(options, trx, owner, logger, change, progress), engineCommit);
}

/** The line an end logs. */
function endLine(change: EndChange): JobLogEntry {
  return { level: change.to === 'failed' ? 'error' : 'info', context: { status: change.to, reason: change.reason ?? null }, message: `job ${change.to}` };
}

function reportEnd(options: JobExecutorOptions, owner: Ownership, change: EndChange): ExecutionOutcome {
  options.processLogger?.info({ job: owner.jobId, status: change.to, reason: change.reason ?? null }, 'job ended');
  return change.to;
}

/**
 * Ends the job in `trx`: success consumes its queue leases and marks its
 * items done; failure gives both back. The move itself is the ownership
 * fence (engine job and attempt, under the row lock the UPDATE takes), and
 * writes the last progress; it reports whether the job holds leases or
 * claims, so a job that holds none settles nothing
 * (docs/decisions/2026-12-01-engine-speed.md).
 */
async function endIn(options: JobExecutorOptions, trx: TenantTransaction, owner: Ownership, logger: BufferedLogger, change: EndChange, progress?: JobProgress): Promise<ExecutionOutcome> {
  const success = change.to !== 'failed';
  const line = endLine(change);
  logger.log(line.level, line.context ?? {}, line.message);
  const moved = await transitionJob(options.context, trx, owner.jobId, change, { ...fenceOf(owner), ...(progress === undefined ? {} : { progress }), holdings: true, logLines: logger.take() });
  if (moved === null) throw new LostOwnership();
  if (moved.holdings?.queueLeases !== false) await settleQueueLease(trx, owner.jobId, success ? 'success' : 'failure');
  if (moved.holdings?.claimedItems !== false) {
    if (success) await markItemsDone(options.context, trx, { jobId: owner.jobId });
    else await releaseItems(trx, { jobId: owner.jobId });
  }
  return reportEnd(options, owner, change);
}

/**
 * The job stopped being this execution's. If an operator cancelled it, its
 * worker settles what it holds (cancellation leaves a running job's leases
 * and items to it); otherwise another owner settles them.
 */
async function settleLost(options: JobExecutorOptions, owner: Ownership): Promise<ExecutionOutcome> {
  await inTenant(options.context, owner.tenantId, null, async (trx) => {
    const job = await trx.selectFrom('dm_jobs').select(['status', 'engine_job_id', 'attempts']).where('id', '=', owner.jobId).executeTakeFirst();
    if (job?.status === 'cancelled' && job.engine_job_id === owner.engineJobId && job.attempts === owner.attempt) {
      await settleQueueLease(trx, owner.jobId, 'failure');
      await releaseItems(trx, { jobId: owner.jobId });
    }
  });
  return 'stale';
}

/**
 * Runs `work` in a tenant transaction that first checks, under a row lock,
 * that this execution still owns the job (processing, under its engine job
 * and attempt); otherwise throws {@link LostOwnership}. pg-boss re-delivers
 * an expired job under the same id, so the attempt is the fence that tells
 * the old delivery from the new.
 */
function owned<T>(options: JobExecutorOptions, owner: Ownership, logger: BufferedLogger, work: (trx: TenantTransaction) => Promise<T>, progress?: JobProgress): Promise<T> {
  return inTenant(
    options.context,
    owner.tenantId,
    null,
    async (trx) => {
    // With progress to record, its fenced UPDATE is the check (it takes the same row lock); otherwise a locking read.
    const owns =
      progress !== undefined
        ? await recordJobProgress(trx, owner.jobId, progress, { ...fenceOf(owner), logLines: logger.take() })
        : await trx
            .selectFrom('dm_jobs')
            .select('id')
            .where('id', '=', owner.jobId)
            .where('status', '=', 'processing')
            .where('engine_job_id', '=', owner.engineJobId)
            .where('attempts', '=', owner.attempt)
            .forNoKeyUpdate()
            .executeTakeFirst()
            .then((row) => row !== undefined);
    if (!owns) throw new LostOwnership();
    await logger.flush(trx);
    return work(trx);
  },
    engineCommit,
  );
}

/** Records a step's progress in a transaction of its own: one fenced UPDATE, and the buffered log lines. */
function recordProgress(options: JobExecutorOptions, owner: Ownership, logger: BufferedLogger, progress: JobProgress): Promise<void> {
  return owned(options, owner, logger, async () => undefined, progress);
}

/** The fence of this execution for the lifecycle's writes. */
function fenceOf(owner: Ownership): { readonly engineJobId: string; readonly attempt: number } {
  return { engineJobId: owner.engineJobId, attempt: owner.attempt };
}

function toJobError(error: unknown): JobError {
  if (DataMachineError.isInstance(error)) return { code: error.code, message: error.message };
  return { code: 'step.failed', message: error instanceof Error ? error.message : String(error) };
}

interface BufferedLogger extends StepLogger {
  log(level: LogLevel, context: Readonly<Record<string, unknown>>, message: string): void;
  /** Writes the buffered lines in `trx` (the job's next transaction), so logging never opens one of its own. */
  flush(trx: TenantTransaction): Promise<void>;
  /** Takes the buffered lines as an INSERT to ride on the job's next fenced UPDATE (none: undefined). */
  take(): JobLogsInsert | undefined;
  /** The buffered lines and `last` as an INSERT, keeping the buffer (for a move that may not apply). */
  peek(last: JobLogEntry): JobLogsInsert;
}

function createBufferedLogger(options: JobExecutorOptions, owner: Ownership): BufferedLogger {
  const pending: JobLogEntry[] = [];
  const entry = (level: LogLevel, context: Readonly<Record<string, unknown>>, message: string): JobLogEntry => ({ level, message, context: { ...context, attempt: owner.attempt }, at: options.context.now() });
  const log = (level: LogLevel, context: Readonly<Record<string, unknown>>, message: string): void => {
    pending.push(entry(level, context, message));
  };
  return {
    log,
    debug: (context, message) => log('debug', context, message),
    info: (context, message) => log('info', context, message),
    warn: (context, message) => log('warn', context, message),
    error: (context, message) => log('error', context, message),
    take() {
      return pending.length === 0 ? undefined : jobLogsInsert(options.context, owner.jobId, pending.splice(0));
    },
    peek(last) {
      return jobLogsInsert(options.context, owner.jobId, [...pending, entry(last.level, last.context ?? {}, last.message)]);
    },
    async flush(trx) {
      // One multi-row INSERT per flush, whatever the number of lines (docs/decisions/2026-12-01-engine-speed.md).
      await writeJobLogs(options.context, trx, owner.jobId, pending.splice(0));
    },
  };
}
