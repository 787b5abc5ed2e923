import { sql } from 'kysely';
import type { DataMachineContext } from '../context';
import type { JobStatus } from '../database/data-machine-database';
import { liveJobStatuses } from '../jobs/job';
import type { QueueName } from '../queues/queue';
import { inTenant, inTransaction } from '../scope/tenant-transaction';

/** What is in the system now, per tenant (by slug): live jobs by status, and queue entries by queue. */
export interface AutomationGauges {
  readonly liveJobs: readonly { readonly tenant: string; readonly status: JobStatus; readonly count: number }[];
  readonly queueEntries: readonly { readonly tenant: string; readonly queue: QueueName; readonly count: number }[];
}

/** A time window `(after, until]`. */
export interface MetricsWindow {
  readonly after: Date;
  readonly until: Date;
}

/** What ended in a window: jobs (status and duration) and agent runs (tokens by agent). */
export interface EndedWork {
  readonly jobs: readonly { readonly tenant: string; readonly status: JobStatus; readonly durationSeconds: number | null }[];
  readonly runs: readonly { readonly tenant: string; readonly agent: string; readonly inputTokens: number; readonly outputTokens: number }[];
}

/** The most ended jobs one window reads: a scrape after a long silence reads the newest part of it. */
export const maxEndedJobsPerWindow = 10_000;

/** What one `/metrics` scrape reads: the gauges, and what ended in its window. */
export interface AutomationMetrics {
  readonly gauges: AutomationGauges;
  readonly ended: EndedWork;
}

/**
 * Everything `/metrics` reads, in one walk over the tenants (one tenant
 * transaction each: row-level security holds): live jobs by status and queue
 * entries by queue (the partial index of live jobs, never the job history),
 * and, when `window` is given, what ended in it: each job that finished in it
 * (status, and seconds from start to finish; null for one that never
 * started), at most {@link maxEndedJobsPerWindow} per tenant; and, per tenant
 * and agent, the tokens of the agent runs that ended in it (the substrate's
 * run records: `ai` steps and chat turns alike).
 */
export async function readAutomationMetrics(context: DataMachineContext, window: MetricsWindow | undefined): Promise<AutomationMetrics> {
  const tenants = await listTenants(context);
  const liveJobs: { tenant: string; status: JobStatus; count: number }[] = [];
  const queueEntries: { tenant: string; queue: QueueName; count: number }[] = [];
  const jobs: { tenant: string; status: JobStatus; durationSeconds: number | null }[] = [];
  const runs: { tenant: string; agent: string; inputTokens: number; outputTokens: number }[] = [];
  for (const tenant of tenants) {
    await inTenant(context, tenant.id, null, async (trx) => {
      const live = await trx
        .selectFrom('dm_jobs')
        .select(['status', sql<number>`count(*)::int`.as('count')])
        .where('status', 'in', [...liveJobStatuses])
        .groupBy('status')
        .execute();
      for (const row of live) liveJobs.push({ tenant: tenant.slug, status: row.status, count: row.count });
      const queues = await trx.selectFrom('dm_queue_entries').select(['queue', sql<number>`count(*)::int`.as('count')]).groupBy('queue').execute();
      for (const row of queues) queueEntries.push({ tenant: tenant.slug, queue: row.queue, count: row.count });
      if (window === undefined) return;
      const ended = await trx
        .selectFrom('dm_jobs')
        .select(['status', sql<number | null>`extract(epoch from finished_at - started_at)::float8`.as('seconds')])
        .where('tenant_id', '=', tenant.id)
        .where('finished_at', '>', window.after)
        .where('finished_at', '<=', window.until)
        .orderBy('finished_at', 'desc')
        .limit(maxEndedJobsPerWindow)
        .execute();
      for (const row of ended) jobs.push({ tenant: tenant.slug, status: row.status, durationSeconds: row.seconds === null ? null : Number(row.seconds) });
      // The substrate's run records carry the tenant id as their tenant key.
      const used = await sql<{ agent: string; input: number; output: number }>`
        select agent_slug as agent,
               coalesce(sum((usage->>'inputTokens')::bigint), 0)::float8 as input,
               coalesce(sum((usage->>'outputTokens')::bigint), 0)::float8 as output
          from agents_runs
         where tenant_key = ${tenant.id} and ended_at > ${window.after} and ended_at <= ${window.until}
         group by agent_slug`.execute(trx);
      for (const row of used.rows) runs.push({ tenant: tenant.slug, agent: row.agent, inputTokens: Number(row.input), outputTokens: Number(row.output) });
    });
  }
  return { gauges: { liveJobs, queueEntries }, ended: { jobs, runs } };
}

function listTenants(context: DataMachineContext): Promise<{ id: string; slug: string }[]> {
  return inTransaction(context, {}, (trx) => trx.selectFrom('dm_tenants').select(['id', 'slug']).orderBy('id').execute());
}
