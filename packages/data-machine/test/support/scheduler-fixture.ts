import type { Kysely } from 'kysely';
import type { DataMachineDatabase } from '../../src/database/data-machine-database';
import type { DataMachineContext } from '../../src/context';
import { createJob } from '../../src/jobs/job-lifecycle';
import type { FlowRunRequest, FlowRunStarter } from '../../src/schedules/scheduler';
import type { SchedulerLogger } from '../../src/schedules/system-task';
import { inTenant } from '../../src/scope/tenant-transaction';

/** A starter as the engine's will be, minus pg-boss: it writes the job row through `createJob`, in the request's tenant, and records each request. */
export interface RecordingStarter {
  readonly start: FlowRunStarter;
  readonly requests: FlowRunRequest[];
}

/** A {@link RecordingStarter}; `before` runs first on every request (to hold or fail a start). */
export function jobRowStarter(context: DataMachineContext, before?: (request: FlowRunRequest) => Promise<void>): RecordingStarter {
  const requests: FlowRunRequest[] = [];
  const start: FlowRunStarter = async (request) => {
    requests.push(request);
    await before?.(request);
    const { job } = await inTenant(context, request.tenantId, null, (trx) =>
      createJob(context, trx, { flowId: request.flowId, source: request.source, idempotencyKey: request.idempotencyKey, engineData: { scheduledFor: request.scheduledFor.toISOString() } }),
    );
    return { jobId: job.id };
  };
  return { start, requests };
}

/** A logged line. */
export interface LoggedLine {
  readonly level: 'info' | 'error';
  readonly entry: Readonly<Record<string, unknown>>;
  readonly message: string;
}

/** A logger that keeps what it is told. */
export function recordingLogger(): SchedulerLogger & { readonly lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  return {
    lines,
    info: (entry, message) => lines.push({ level: 'info', entry, message }),
    error: (entry, message) => lines.push({ level: 'error', entry, message }),
  };
}

/**
 * Forgets every flow (with its jobs), the scheduler lease and the system tasks' runs, through the
 * test's own connection (past row-level security): a tick reads every tenant, so each test starts clean.
 */
export async function resetScheduling(db: Kysely<DataMachineDatabase>, options: { readonly flows: boolean }): Promise<void> {
  if (options.flows) await db.deleteFrom('dm_flows').execute();
  await db.deleteFrom('dm_scheduler_leases').execute();
  await db.deleteFrom('dm_system_tasks').execute();
}
