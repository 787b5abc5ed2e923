import type { DataMachineContext } from '../context';
import { dispatchOutbox, type DispatchOptions, type DispatchReport, type OutboxHandler } from '../outbox/outbox-dispatcher';
import { engineQueues, type JobEngine } from './job-engine';

/** Options of {@link createOutboxWorker}. */
export interface OutboxWorkerOptions {
  readonly context: DataMachineContext;
  readonly engine: JobEngine;
  readonly handlers: readonly OutboxHandler[];
  /** How often a dispatch is due, in seconds; default 5. */
  readonly intervalSeconds?: number;
  readonly dispatch?: DispatchOptions;
  /** Called after each dispatch (tests and metrics). */
  readonly onDispatched?: (report: DispatchReport) => void;
}

/** Dispatches the outbox on the job engine. */
export interface OutboxWorker {
  start(): Promise<void>;
  /** Asks for a dispatch now (after recording an event, say) rather than at the next tick. */
  kick(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Dispatches outbox events (`agent.created`, ...) from a pg-boss worker.
 * Each interval, every process running it offers one dispatch job with a
 * pg-boss throttle key: whatever the number of processes, at most one
 * dispatch is queued per interval, and whichever worker takes it runs
 * {@link dispatchOutbox} (which skips deliveries another dispatcher holds).
 *
 * @example
 * const outbox = createOutboxWorker({ context, engine, handlers: [createAgentMemoryProvisioner({ memory })] });
 * await outbox.start();
 */
export function createOutboxWorker(options: OutboxWorkerOptions): OutboxWorker {
  const { boss } = options.engine;
  const intervalSeconds = options.intervalSeconds ?? 5;
  let timer: NodeJS.Timeout | undefined;
  let workerId: string | undefined;
  const offer = async (): Promise<void> => {
    await boss.send(engineQueues.outbox, {}, { singletonKey: 'dispatch', singletonSeconds: intervalSeconds, retryLimit: 0 });
  };
  return {
    async start() {
      workerId = await boss.work(engineQueues.outbox, { pollingIntervalSeconds: Math.max(options.engine.options.pollingIntervalSeconds, 0.5) }, async () => {
        const report = await dispatchOutbox(options.context, options.handlers, options.dispatch);
        options.onDispatched?.(report);
      });
      await offer();
      timer = setInterval(() => void offer().catch(() => undefined), intervalSeconds * 1000).unref();
    },
    async kick() {
      // Outside the throttle: an explicit request is not one of the periodic offers.
      await boss.send(engineQueues.outbox, {}, { retryLimit: 0 });
      if (workerId !== undefined) boss.notifyWorker(workerId);
    },
    async stop() {
      clearInterval(timer);
      if (workerId !== undefined) await boss.offWork({ id: workerId });
    },
  };
}
