import type { SchedulerLogger, SystemTask } from '../schedules/system-task';
import { retentionKinds, runRetention, type RetentionOptions, type RetentionReport } from './retention';

/** Options of {@link createRetentionTask}. */
export interface RetentionTaskOptions extends RetentionOptions {
  /** How often the sweep runs; default every hour. */
  readonly everyMs?: number;
}

/**
 * Retention as a scheduler system task: every `everyMs` it runs
 * {@link runRetention} over every tenant, by each tenant's windows, in capped
 * batches, and logs what it removed (totals, and each tenant that lost rows
 * or has more due than the caps allowed).
 *
 * @example
 * createScheduler({ context, starter, systemTasks: [createRetentionTask({ transcripts: transcriptStore })] });
 */
export function createRetentionTask(options: RetentionTaskOptions = {}): SystemTask {
  return {
    name: 'retention',
    everyMs: options.everyMs ?? 60 * 60 * 1000,
    async run(context, logger) {
      logRetention(logger, await runRetention(context, options));
    },
  };
}

function logRetention(logger: SchedulerLogger, report: RetentionReport): void {
  const tenants = report.tenants
    .filter((tenant) => tenant.unfinished.length > 0 || retentionKinds.some((kind) => tenant.deleted[kind] > 0))
    .map((tenant) => ({ tenantId: tenant.tenantId, deleted: tenant.deleted, unfinished: tenant.unfinished }));
  logger.info({ task: 'retention', totals: report.totals, tenants }, 'retention removed what the windows no longer keep');
}
