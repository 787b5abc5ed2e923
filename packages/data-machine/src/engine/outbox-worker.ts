import type { DataMachineContext } from '../context';
import { dispatchOutbox, type DispatchOptions, type DispatchReport, type OutboxHandler } from '../outbox/outbox-dispatcher';
import type PgBoss from 'pg-boss';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { kyselyBossDatabase } from './boss-database';
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
  // pg-boss's offWork does not wait for a running handler: stop waits for the dispatches itself.
  const running = new Set<Promise<unknown>>();
  const offer = async (): Promise<void> => {
    await boss.send(engineQueues.outbox, {}, { singletonKey: 'dispatch', singletonSeconds: intervalSeconds, retryLimit: 0 });
  };
  return {
    async start() {
      workerId = await boss.work(engineQueues.outbox, { pollingIntervalSeconds: Math.max(options.engine.options.pollingIntervalSeconds, 0.5) }, async () => {
        const dispatch = dispatchOutbox(options.context, options.handlers, options.dispatch);
        running.add(dispatch);
        try {
          options.onDispatched?.(await dispatch);
        } finally {
          running.delete(dispatch);
        }
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
      workerId = undefined;
      await Promise.allSettled([...running]);
    },
  };
}

/**
 * A dispatch request made in the transaction that records an outbox event
 * (`DataMachineContext.onEventRecorded`): the pg-boss job commits with the
 * event, so whichever outbox worker polls next dispatches it, without
 * waiting for the periodic offer, and a rolled-back event leaves no request.
 *
 * @example
 * const context = createDataMachineContext({ db, onEventRecorded: outboxKick(engine) });
 */
export function outboxKick(engine: JobEngine): (trx: TenantTransaction) => Promise<void> {
  return async (trx) => {
    await engine.boss.insert([{ name: engineQueues.outbox, data: {}, retryLimit: 0 }], { db: kyselyBossDatabase(trx) as PgBoss.Db });
  };
}
