import { z } from 'zod';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import { releaseItems } from '../items/processed-items';
import { settleQueueLease } from '../queues/queue-lease';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { findAgentFlow } from './agent-flow';
import { isEndedJobStatus, jobStatuses, liveJobStatuses, toJob, type Job, type JobRow, type JobStatus } from './job';
import { transitionJob } from './job-lifecycle';
import { decodeCursor, pageOf, pageOptionsSchema, type KeysetPosition, type Page, type PageOptions } from './page-cursor';

// Operator-facing: reading needs `logs.read` on the agent, cancelling
// `flow.run`. A job of another agent is `job.not_found`, exactly as a missing one.

/**
 * What {@link listJobs} takes: a page, and optionally one flow (id or slug),
 * one status, and a time range on creation (`createdSince` inclusive,
 * `createdBefore` exclusive).
 */
export const jobListOptionsSchema = pageOptionsSchema
  .extend({ flow: z.string().min(1).max(200).optional(), status: z.enum(jobStatuses).optional(), createdSince: z.date().optional(), createdBefore: z.date().optional() })
  .strict();
export type JobListOptions = z.input<typeof jobListOptionsSchema>;

/**
 * The newest jobs of an agent (or of one of its flows), a page at a time:
 * keyset paging on (created_at desc, id desc), served by the agent's (or
 * flow's) index, so page 1000 costs what page 1 does.
 */
export async function listJobs(context: DataMachineContext, scope: Scope, agentRef: string, options: JobListOptions = {}): Promise<Page<Job>> {
  const { limit, cursor, flow, status, createdSince, createdBefore } = parseInput(jobListOptionsSchema, options, 'job list options');
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  return agentOperation(context, scope, 'logs.read', agentRef, async (trx, agent) => {
    const owner = flow === undefined ? { agentId: agent.id } : { flowId: (await findAgentFlow(trx, agent.id, flow)).id };
    const rows = await newestJobsQuery(trx, owner, { status, createdSince, createdBefore, after, limit: limit + 1 }).execute();
    return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), toJob);
  });
}

/**
 * The query of {@link listJobs}: the jobs of an agent or a flow after a
 * keyset position, newest first. Its shape (equality on the owner, a row
 * comparison, the order of the index) is what lets the owner's index serve
 * both the filter and the order; the index test holds it to that.
 */
export function newestJobsQuery(
  trx: TenantTransaction,
  owner: { readonly agentId: string } | { readonly flowId: string },
  options: {
    readonly status?: JobStatus | undefined;
    readonly createdSince?: Date | undefined;
    readonly createdBefore?: Date | undefined;
    readonly after?: KeysetPosition | undefined;
    readonly limit: number;
  },
) {
  let query = trx.selectFrom('dm_jobs').selectAll();
  query = 'agentId' in owner ? query.where('agent_id', '=', owner.agentId) : query.where('flow_id', '=', owner.flowId);
  if (options.status !== undefined) query = query.where('status', '=', options.status);
  // A range on the index's second column: the owner's index still serves filter and order.
  if (options.createdSince !== undefined) query = query.where('created_at', '>=', options.createdSince);
  if (options.createdBefore !== undefined) query = query.where('created_at', '<', options.createdBefore);
  const after = options.after;
  if (after !== undefined) query = query.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(after.at, after.id)));
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit);
}

/** A job of the agent, with its fan-out children's counts (`children`). */
export async function getJob(context: DataMachineContext, scope: Scope, agentRef: string, jobId: string): Promise<Job> {
  return agentOperation(context, scope, 'logs.read', agentRef, async (trx, agent) => toJob(await findAgentJob(trx, agent.id, jobId)));
}

/**
 * The fan-out children of a job of the agent, in the order they were
 * created, a page at a time (`logs.read`); another agent's job is `job.not_found`.
 */
export async function listJobChildren(context: DataMachineContext, scope: Scope, agentRef: string, jobId: string, options: PageOptions = {}): Promise<Page<Job>> {
  const { limit, cursor } = parseInput(pageOptionsSchema, options, 'job list options');
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  return agentOperation(context, scope, 'logs.read', agentRef, async (trx, agent) => {
    const parent = await findAgentJob(trx, agent.id, jobId);
    let query = trx.selectFrom('dm_jobs').selectAll().where('parent_job_id', '=', parent.id);
    if (after !== undefined) query = query.where((eb) => eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after.at, after.id)));
    const rows = await query.orderBy('created_at').orderBy('id').limit(limit + 1).execute();
    return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), toJob);
  });
}

/** The job of `agentId` with this id, optionally locked; `job.not_found` otherwise. */
export async function findAgentJob(trx: TenantTransaction, agentId: string, jobId: string, options: { readonly lock?: boolean } = {}): Promise<JobRow> {
  let query = trx.selectFrom('dm_jobs').selectAll().where('id', '=', jobId).where('agent_id', '=', agentId);
  if (options.lock === true) query = query.forNoKeyUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw new DataMachineError('job.not_found', `There is no job "${jobId}".`, { details: { job: jobId } });
  return row;
}

/** Why an operator's cancel ended a job (its `status_reason`). */
export const cancelledByOperator = 'cancelled_by_operator';

/**
 * Cancels a job that has not ended (`flow.run`), with its live fan-out
 * children; `job.ended` when it already ended. A job no worker holds
 * (`pending`, `waiting`) gives its queue leases back and releases its item
 * claims here; a `processing` job's worker finds its next move stale and
 * settles its own. A cancelled child counts as ended on its parent.
 */
export async function cancelJob(context: DataMachineContext, scope: Scope, agentRef: string, jobId: string): Promise<Job> {
  return agentOperation(context, scope, 'flow.run', agentRef, async (trx, agent) => {
    const job = await findAgentJob(trx, agent.id, jobId, { lock: true });
    if (isEndedJobStatus(job.status)) {
      throw new DataMachineError('job.ended', `The job "${jobId}" already ended (${job.status}).`, { details: { job: jobId, status: job.status } });
    }
    const moved = await transitionJob(context, trx, job.id, { to: 'cancelled', reason: cancelledByOperator });
    if (!moved) throw new Error(`job ${job.id} was locked live but did not move`);
    // Every live child, locked first (its prior status says who holds it), then cancelled in one statement;
    // their parent has ended, so none is counted on it.
    const children = await trx.selectFrom('dm_jobs').select(['id', 'status']).where('parent_job_id', '=', job.id).where('status', 'in', [...liveJobStatuses]).forNoKeyUpdate().execute();
    if (children.length > 0) {
      await trx
        .updateTable('dm_jobs')
        .set({ status: 'cancelled', status_reason: cancelledByOperator, finished_at: context.now() })
        .where('id', 'in', children.map((child) => child.id))
        .where('status', 'in', [...liveJobStatuses])
        .execute();
    }
    const unheld = [job, ...children].filter((row) => row.status !== 'processing');
    for (const row of unheld) {
      await settleQueueLease(trx, row.id, 'failure');
      await releaseItems(trx, { jobId: row.id });
    }
    return moved.job;
  });
}
