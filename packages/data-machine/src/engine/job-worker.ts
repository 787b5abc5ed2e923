import { setTimeout as delay } from 'node:timers/promises';
import { engineQueues, type EngineMessage } from './job-engine';
import { fetchDeliveries, type FetchedDelivery } from './job-fetch';
import { reconcileJobs } from './job-reconciler';
import { executeJob, type DeliveryCompletion, type ExecutionOutcome, type JobExecutorOptions } from './job-executor';

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
  const settling = new Set<Promise<unknown>>();
  const loops: PollingLoop[] = [];
  let stopping = false;
  // The step's deadline: a margin before pg-boss would take the job back.
  const expiryMs = options.engine.options.expireInSeconds * 1000;
  const stepDeadlineMs = Math.max(expiryMs - Math.min(expiryMs / 10, 30_000), 500);
  const batchSize = options.batchSize ?? 4;
  const pollingMs = options.engine.options.pollingIntervalSeconds * 1000;

  const executeOne = async (delivery: FetchedDelivery, completion: DeliveryCompletion): Promise<ExecutionOutcome> => {
    const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(stepDeadlineMs)]);
    const outcome = await executeJob(options, delivery.data, delivery.id, signal, delivery.started, completion);
    options.onExecuted?.(delivery.data, outcome);
    return outcome;
  };

  /**
   * Runs a fetched batch side by side, then completes its pg-boss jobs, as
   * pg-boss's own `work` does: all completed, or (an infrastructure failure,
   * or the batch outlived the jobs' expiry) all failed, so pg-boss re-delivers
   * and executions that finished find their jobs stale. The completion is not
   * awaited before the next fetch; {@link JobWorker.stop} waits for it. A
   * job that ended alone completed its delivery with its end (one round
   * trip): that one is not completed again (pg-boss fails only jobs not yet
   * completed). Resolves whether the batch enqueued work due now (children, retries).
   */
  const runBatch = async (deliveries: readonly FetchedDelivery[]): Promise<boolean> => {
    const completions = deliveries.map((): DeliveryCompletion => ({ completed: false }));
    let outcome: { readonly failed: unknown } | null = null;
    let enqueued = false;
    let expiry: NodeJS.Timeout | undefined;
    try {
      const expired = new Promise<never>((_, reject) => {
        expiry = setTimeout(() => reject(new Error(`handler execution exceeded ${expiryMs}ms`)), Math.max(expiryMs, 1000));
      });
      const results = await Promise.race([Promise.allSettled(deliveries.map((delivery, index) => executeOne(delivery, completions[index] as DeliveryCompletion))), expired]);
      const failure = results.find((result) => result.status === 'rejected');
      if (failure) outcome = { failed: failure.reason };
      enqueued = results.some((result) => result.status === 'fulfilled' && (result.value === 'fanned_out' || result.value === 'retrying'));
    } catch (error) {
      outcome = { failed: error };
    } finally {
      clearTimeout(expiry);
    }
    const failed = outcome === null ? null : errorOutput(outcome.failed);
    const ids = deliveries.filter((_, index) => !completions[index]?.completed).map((delivery) => delivery.id);
    if (ids.length === 0) return enqueued;
    const completion = (failed === null ? boss.complete(engineQueues.job, ids) : Promise.all(ids.map((id) => boss.fail(engineQueues.job, id, failed)))).catch((error: unknown) =>
      options.processLogger?.error({ jobs: ids, error: errorOutput(error).message }, 'completing pg-boss jobs failed; they expire and are re-delivered'),
    );
    settling.add(completion);
    void completion.finally(() => settling.delete(completion));
    return enqueued;
  };

  /**
   * One polling loop: fetch (starting a job in the same round trip), run,
   * repeat. It fetches again at once after a full batch (more may wait) or
   * one that enqueued work, or when notified; otherwise (the queue was
   * empty when fetched) it idles for the polling interval.
   */
  const poll = async (loop: PollingLoop): Promise<void> => {
    while (!stopping && !options.engine.isStopped()) {
      loop.notified = false;
      let again = false;
      try {
        const deliveries = await fetchDeliveries(options, batchSize);
        // Fetched deliveries run even when stopping began meanwhile: their jobs are started and pg-boss's are active.
        if (deliveries.length > 0) again = (await runBatch(deliveries)) || deliveries.length === batchSize;
      } catch (error) {
        options.processLogger?.error({ error: errorOutput(error).message }, 'fetching jobs failed');
      }
      if (again || loop.notified || stopping) continue;
      const idle = new AbortController();
      loop.idle = idle;
      await delay(pollingMs, undefined, { signal: idle.signal }).catch(() => undefined);
      loop.idle = undefined;
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
      for (let index = 0; index < (options.loops ?? 1); index += 1) {
        const loop: PollingLoop = { notified: false, idle: undefined, done: Promise.resolve() };
        loop.done = poll(loop);
        loops.push(loop);
      }
    },
    notify() {
      for (const loop of loops) {
        loop.notified = true;
        loop.idle?.abort();
      }
    },
    async stop() {
      clearInterval(reconciler);
      await reconciling;
      stopping = true;
      for (const loop of loops) loop.idle?.abort();
      // The loops end after their running batch.
      const drained = Promise.allSettled(loops.splice(0).map((loop) => loop.done));
      const grace = new Promise((resolve) => setTimeout(resolve, options.shutdownGraceMs ?? 30_000).unref());
      await Promise.race([drained, grace]);
      shutdown.abort(new Error('worker shutting down'));
      await drained;
      await Promise.allSettled([...settling]);
    },
  };
}

/** A polling loop's state: whether it was notified since its last fetch, and its idle wait to cut short. */
interface PollingLoop {
  notified: boolean;
  idle: AbortController | undefined;
  done: Promise<void>;
}

function errorOutput(error: unknown): { readonly message: string } {
  return { message: error instanceof Error ? error.message : String(error) };
}
