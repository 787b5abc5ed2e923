import type { DatabaseSuiteContext } from '@data-machine/testkit';
import type { DataMachineContext } from '../../src/context';
import { createJobEngine, type JobEngine, type JobEngineOptions } from '../../src/engine/job-engine';
import { createJobWorker, type JobWorker, type JobWorkerOptions } from '../../src/engine/job-worker';
import { createHandlerSteps } from '../../src/engine/handler-steps';
import type { ExecutionOutcome, StepRegistry } from '../../src/engine/job-executor';
import type { HandlerRegistry } from '../../src/handlers/handler-registry';
import type { JobStatus } from '../../src/jobs/job';
import { inTenant } from '../../src/scope/tenant-transaction';

/** Engine options that keep tests fast: the shortest polling pg-boss allows, no maintenance unless asked. */
export const fastEngine = { pollingIntervalSeconds: 0.5, supervise: false } as const;

/** A job engine on the suite's database: pg-boss on the PGlite itself (its `db` option) or on the Postgres database's URL. */
export function engineOn<Database>(database: DatabaseSuiteContext<Database>, options: Omit<JobEngineOptions, 'database'> = {}): JobEngine {
  const { pglite, url } = database.database;
  const connection = pglite !== undefined ? { pglite } : { connectionString: url as string, max: 4 };
  return createJobEngine({ ...fastEngine, ...options, database: connection });
}

/** A started engine and worker with the built-in handler steps (plus `steps`), and a stop for both. */
export async function runningWorker(
  context: DataMachineContext,
  engine: JobEngine,
  handlers: HandlerRegistry,
  steps: StepRegistry = {},
  options: Partial<JobWorkerOptions> = {},
): Promise<{ readonly engine: JobEngine; readonly worker: JobWorker; readonly outcomes: ExecutionOutcome[]; stop(): Promise<void> }> {
  const outcomes: ExecutionOutcome[] = [];
  const worker = createJobWorker({ context, engine, handlers, steps: { ...createHandlerSteps(handlers), ...steps }, onExecuted: (_message, outcome) => outcomes.push(outcome), ...options });
  await engine.start();
  await worker.start();
  return {
    engine,
    worker,
    outcomes,
    async stop() {
      await worker.stop();
      await engine.stop();
    },
  };
}

/** Polls `condition` until it holds, or fails after the deadline (a wait on a condition, never a sleep that hopes). */
export async function eventually(condition: () => Promise<boolean>, what: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until `jobId` is in one of `statuses`; resolves to its row. */
export async function jobReaches(context: DataMachineContext, tenantId: string, jobId: string, statuses: readonly JobStatus[], timeoutMs = 20_000) {
  const read = () => inTenant(context, tenantId, null, (trx) => trx.selectFrom('dm_jobs').selectAll().where('id', '=', jobId).executeTakeFirst());
  let row = await read();
  await eventually(
    async () => {
      row = await read();
      return row !== undefined && statuses.includes(row.status);
    },
    () => `job ${jobId} is ${row?.status ?? 'missing'} (${row?.status_reason ?? ''}), not ${statuses.join('/')}`,
    timeoutMs,
  );
  return row as NonNullable<typeof row>;
}
