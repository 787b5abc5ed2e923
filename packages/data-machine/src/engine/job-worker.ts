import type PgBoss from 'pg-boss';
import { engineQueues, type EngineMessage } from './job-engine';
import { reconcileJobs } from './job-reconciler';
import { executeJob, type ExecutionOutcome, type JobExecutorOptions } from './job-executor';

/** Options of {@link createJobWorker}. */
export interface JobWorkerOptions extends JobExecutorOptions {
  /** pg-boss jobs fetched at once and run side by side; default 4. */
  readonly batchSize?: number;
  /** Polling loops (each fetching a batch); default 1. */
  readonly loops?: number;
  /** How long {@link JobWorker.stop} lets running steps finish before aborting them; default 30 s. */
  readonly shutdownGraceMs?: number;
  /** Runs {@link reconcileJobs} this often (one worker per deployment is enough; it is safe on several); default never. */
  readonly reconcileEveryMs?: number;
  /** Called after each execution (tests and metrics). */
  readonly onExecuted?: (message: EngineMessage, outcome: ExecutionOutcome) => void;
}

/** A worker taking product jobs from pg-boss. */
export interface JobWorker {
  start(): Promise<void>;
  /**
   * Graceful: stops taking work, lets running steps finish for the grace
   * period, then aborts them (an aborted step fails and its job is retried:
   * released, not lost). Resolves when nothing runs. Does not stop pg-boss.
   */
  stop(): Promise<void>;
  /** Wakes the worker's polling loops now (after enqueueing work in this process) instead of at their next poll. */
  notify(): void;
}

/**
 * Creates a worker that executes product jobs on the engine's pg-boss.
 * A step gets an `AbortSignal` that fires on shutdown and a little before
 * pg-boss's expiry, so a step never outlives the engine job that owns it.
 *
 * @example
 * const worker = createJobWorker({ context, engine, handlers, steps: { ...createHandlerSteps(handlers), ai } });
 * await worker.start();
 */
export function createJobWorker(options: JobWorkerOptions): JobWorker {
  const { boss } = options.engine;
  const shutdown = new AbortController();
  const running = new Set<Promise<unknown>>();
  const workerIds: string[] = [];
  // The step's deadline: a margin before pg-boss would take the job back.
  const expiryMs = options.engine.options.expireInSeconds * 1000;
  const stepDeadlineMs = Math.max(expiryMs - Math.min(expiryMs / 10, 30_000), 500);

  const executeOne = async (job: PgBoss.Job<EngineMessage>): Promise<void> => {
    const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(stepDeadlineMs)]);
    const outcome = await executeJob(options, job.data, job.id, signal);
    options.onExecuted?.(job.data, outcome);
  };

  const handle = async (jobs: PgBoss.Job<EngineMessage>[], workerId: () => string | undefined): Promise<void> => {
    const batch = Promise.allSettled(jobs.map(executeOne));
    running.add(batch);
    try {
      const results = await batch;
      const failure = results.find((result) => result.status === 'rejected');
      // Infrastructure failure: pg-boss fails the batch and re-delivers; executions that finished find their jobs stale.
      if (failure) throw failure.reason;
    } finally {
      running.delete(batch);
      // A full queue should not wait out the polling interval between batches.
      const id = workerId();
      if (id !== undefined && !shutdown.signal.aborted) boss.notifyWorker(id);
    }
  };

  let reconciler: NodeJS.Timeout | undefined;
  let reconciling: Promise<unknown> = Promise.resolve();
  const reconcile = (): void => {
    // Single flight: a slow pass is not overlapped by the next tick.
    reconciling = reconciling.then(() => reconcileJobs(options)).catch(() => undefined);
  };

  return {
    async start() {
      if (options.reconcileEveryMs !== undefined) reconciler = setInterval(reconcile, options.reconcileEveryMs).unref();
      for (let loop = 0; loop < (options.loops ?? 1); loop += 1) {
        // The handler learns its loop's id once work() resolved (it runs only after that).
        const loopId: { value?: string } = {};
        loopId.value = await boss.work<EngineMessage>(
          engineQueues.job,
          { batchSize: options.batchSize ?? 4, pollingIntervalSeconds: options.engine.options.pollingIntervalSeconds },
          (jobs) => handle(jobs, () => loopId.value),
        );
        workerIds.push(loopId.value);
      }
    },
    notify() {
      for (const id of workerIds) boss.notifyWorker(id);
    },
    async stop() {
      clearInterval(reconciler);
      await reconciling;
      for (const id of workerIds.splice(0)) await boss.offWork({ id });
      const drained = Promise.allSettled([...running]);
      const grace = new Promise((resolve) => setTimeout(resolve, options.shutdownGraceMs ?? 30_000).unref());
      await Promise.race([drained, grace]);
      shutdown.abort(new Error('worker shutting down'));
      await Promise.allSettled([...running]);
    },
  };
}
