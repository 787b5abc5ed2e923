import type PgBoss from 'pg-boss';
import { DataMachineError } from '../errors';
import { engineQueues, type JobEngine } from '../engine/job-engine';
import type { Undo } from './undo';
import type { UndoMessage } from './undo';
import { failUndo, runUndo, type UndoRunnerOptions } from './undo-runner';

/** Options of {@link createUndoWorker}. */
export interface UndoWorkerOptions extends UndoRunnerOptions {
  readonly engine: JobEngine;
  /** How long {@link UndoWorker.stop} lets a running undo go on before aborting it (it is re-delivered); default 30 s. */
  readonly shutdownGraceMs?: number;
  /** Called after each undo ran (tests and metrics). */
  readonly onUndone?: (undo: Undo | undefined) => void;
}

/** A worker taking undos from pg-boss. */
export interface UndoWorker {
  start(): Promise<void>;
  /** Stops taking undos, lets the running one finish for the grace period, then aborts it. */
  stop(): Promise<void>;
  /** Wakes the worker now (after requesting an undo in this process). */
  notify(): void;
}

/**
 * Runs undos (`requestUndo`) from their own pg-boss queue, `dm_undo`, one
 * at a time per worker: an undo is a handful of remote calls, and one queue
 * of its own keeps it from waiting behind (or holding up) flow runs. A
 * failure of the database re-delivers the undo, which goes on from its
 * report; once out of deliveries the undo ends `failed` / `undo_failed`.
 *
 * @example
 * const undos = createUndoWorker({ context, engine, handlers, http: createHandlerNetwork() });
 * await undos.start();
 */
export function createUndoWorker(options: UndoWorkerOptions): UndoWorker {
  const { boss } = options.engine;
  const shutdown = new AbortController();
  const running = new Set<Promise<unknown>>();
  let workerId: string | undefined;

  const runOne = async (job: PgBoss.JobWithMetadata<UndoMessage>): Promise<void> => {
    try {
      const ran = await runUndo(options, job.data, shutdown.signal);
      options.onUndone?.(ran);
    } catch (error) {
      // Retries left, or a shutdown: pg-boss delivers it again and it goes on from its report.
      if (job.retryCount < job.retryLimit || shutdown.signal.aborted) throw error;
      const reason = DataMachineError.isInstance(error) ? { code: error.code, message: error.message } : { code: 'step.failed', message: 'The undo could not run.' };
      await failUndo(options.context, job.data, reason);
      options.onUndone?.(undefined);
    }
  };

  return {
    async start() {
      workerId = await boss.work<UndoMessage>(
        engineQueues.undo,
        { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: options.engine.options.pollingIntervalSeconds },
        async (jobs) => {
          const work = Promise.all(jobs.map(runOne));
          running.add(work);
          try {
            await work;
          } finally {
            running.delete(work);
          }
        },
      );
    },
    notify() {
      if (workerId !== undefined) boss.notifyWorker(workerId);
    },
    async stop() {
      if (workerId !== undefined) await boss.offWork({ id: workerId });
      workerId = undefined;
      const drained = Promise.allSettled([...running]);
      const grace = new Promise((resolve) => setTimeout(resolve, options.shutdownGraceMs ?? 30_000).unref());
      await Promise.race([drained, grace]);
      shutdown.abort(new Error('worker shutting down'));
      await Promise.allSettled([...running]);
    },
  };
}
