/** The statuses a job ends in; any other status is live. */
export const endedStatuses: ReadonlySet<string> = new Set(['completed', 'completed_no_items', 'failed', 'cancelled', 'skipped']);

/** How often live things are polled: cheap for a page of jobs, and it survives proxies that buffer event streams. */
export const pollMs = 2000;
