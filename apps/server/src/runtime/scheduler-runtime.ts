import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { createApprovalExpiryTask, createRetentionTask, createScheduler, signalJob, startFlowRun, type DataMachineContext, type FlowRunStarter, type JobEngine, type Scheduler, type SchedulerOptions } from 'data-machine';
import type { ServerDatabase } from '../database/database';

/** What {@link createSchedulerRuntime} builds on. */
export interface SchedulerRuntimeOptions {
  readonly database: ServerDatabase;
  readonly context: DataMachineContext;
  /** A started engine: each due tick becomes a job enqueued on it. */
  readonly engine: JobEngine;
  readonly logger: SchedulerOptions['logger'];
  /** Time between ticks; the scheduler's default (5 s) otherwise. */
  readonly tickMs?: number;
}

/**
 * The scheduler of this process: due flows start through the engine
 * (`startFlowRun`, idempotent per tick), and retention runs as its system
 * task, chat transcripts included. Several processes may run one; a lease
 * lets one tick at a time.
 */
export function createSchedulerRuntime(options: SchedulerRuntimeOptions): Scheduler {
  const { context, engine } = options;
  return createScheduler({
    context,
    starter: flowRunStarter(context, engine),
    logger: options.logger,
    systemTasks: [
      createRetentionTask({ transcripts: createPostgresTranscriptStore({ db: options.database.db }) }),
      // Expired approvals are rejected and their jobs released, as a decision through the API would.
      createApprovalExpiryTask(async (trx, { jobId, signal, payload }) => {
        await signalJob(context, engine, trx, { jobId, signal, payload });
      }),
    ],
    ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
  });
}

/** Adapts {@link startFlowRun} to the scheduler: the run starts in the flow's own tenant, keyed by its tick. */
export function flowRunStarter(context: DataMachineContext, engine: JobEngine): FlowRunStarter {
  return async (request) => {
    const { job } = await startFlowRun(context, engine, { tenantId: request.tenantId, flowId: request.flowId, source: request.source, idempotencyKey: request.idempotencyKey });
    return { jobId: job.id };
  };
}
