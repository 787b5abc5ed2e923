import type { SystemTask } from '../schedules/system-task';
import { expirePendingActions, type ReleaseJob } from './approval-resolution';

/**
 * The expiry sweep as a scheduler system task: every `everyMs` (default one
 * minute) it rejects the pending actions whose expiry has passed and releases
 * their jobs (see {@link expirePendingActions}).
 *
 * @example
 * createScheduler({ context, starter, systemTasks: [createApprovalExpiryTask(release)] });
 */
export function createApprovalExpiryTask(release: ReleaseJob, options: { readonly everyMs?: number; readonly limit?: number } = {}): SystemTask {
  return {
    name: 'approval-expiry',
    everyMs: options.everyMs ?? 60 * 1000,
    async run(context, logger) {
      const report = await expirePendingActions(context, release, options.limit === undefined ? {} : { limit: options.limit });
      if (report.rejected > 0) logger.info({ task: 'approval-expiry', rejected: report.rejected }, 'rejected pending actions past their expiry');
    },
  };
}
