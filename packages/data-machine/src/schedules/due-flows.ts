import { sql } from 'kysely';
import type { DataMachineContext } from '../context';
import type { FlowRow } from '../jobs/agent-flow';
import { createJob, transitionJob } from '../jobs/job-lifecycle';
import { liveJobStatuses } from '../jobs/job';
import { inTenant, inTransaction } from '../scope/tenant-transaction';
import { scheduleSchema, type Schedule } from './schedule';

// The scheduler's SQL. Engine-facing: nothing here authorizes; the scheduler
// acts as the system and every write stays inside the flow's own tenant.

/** The idempotency key of a flow's scheduled run for `tick`: `schedule:<flowId>:<tick ISO>`. */
export function scheduleIdempotencyKey(flowId: string, tick: Date): string {
  return `schedule:${flowId}:${tick.toISOString()}`;
}

/** A due flow a scheduler has claimed: its tick is held until the claim runs out. */
export interface ClaimedFlow {
  readonly flowId: string;
  readonly tenantId: string;
  readonly agentId: string;
  readonly schedule: Schedule;
  /** The tick that is due: the flow's `next_run_at` when it was claimed. */
  readonly tick: Date;
  readonly concurrency: number;
  /** The flow's top-level jobs that had not ended at the claim, other than one of this tick (children of a fan-out are their parent's). */
  readonly liveJobs: number;
}

/**
 * The tenants that have due, unclaimed flows, at most `limit`. The one read
 * across tenants: it goes through the `dm_flows_due_scan` policy, which shows
 * a transaction that asks for it only flows that are scheduled.
 */
export async function tenantsWithDueFlows(context: DataMachineContext, now: Date, limit: number): Promise<readonly string[]> {
  return inTransaction(context, {}, async (trx) => {
    await sql`select set_config('dm.scan', 'due_flows', true)`.execute(trx);
    const rows = await trx
      .selectFrom('dm_flows')
      .select('tenant_id')
      .distinct()
      .where('paused', '=', false)
      .where('next_run_at', '<=', now)
      .where((eb) => eb.or([eb('schedule_claimed_until', 'is', null), eb('schedule_claimed_until', '<=', now)]))
      .orderBy('tenant_id')
      .limit(limit)
      .execute();
    return rows.map((row) => row.tenant_id);
  });
}

/**
 * Claims up to `limit` due flows of one tenant, oldest tick first, until
 * `claimUntil`: `FOR UPDATE SKIP LOCKED`, so a concurrent scheduler takes
 * other flows, and a claimed flow is invisible to every scheduler until the
 * claim is settled or runs out (then the tick is tried again, under the same
 * idempotency key).
 */
export async function claimDueFlows(context: DataMachineContext, tenantId: string, now: Date, claimUntil: Date, limit: number): Promise<readonly ClaimedFlow[]> {
  return inTenant(context, tenantId, null, async (trx) => {
    // The locking subquery in a materialized CTE: inside `WHERE id IN (...)`
    // the planner may run it more than once, claiming more than `limit` rows.
    const { rows: claimed } = await sql<Pick<FlowRow, 'id' | 'tenant_id' | 'agent_id' | 'schedule' | 'next_run_at' | 'concurrency'>>`
      with due as materialized (
        select id from dm_flows
        where not paused and next_run_at <= ${now} and (schedule_claimed_until is null or schedule_claimed_until <= ${now})
        order by next_run_at
        limit ${limit}
        for update skip locked)
      update dm_flows f set schedule_claimed_until = ${claimUntil}
      from due where f.id = due.id
      returning f.id, f.tenant_id, f.agent_id, f.schedule, f.next_run_at, f.concurrency`.execute(trx);
    if (claimed.length === 0) return [];
    // A job of the claimed tick itself (started before a scheduler died) is that run, not a previous one.
    const ownRuns = claimed.flatMap((row) => (row.next_run_at === null ? [] : [scheduleIdempotencyKey(row.id, row.next_run_at)]));
    const live = await trx
      .selectFrom('dm_jobs')
      .select(['flow_id', (eb) => eb.fn.countAll<string>().as('count')])
      .where(
        'flow_id',
        'in',
        claimed.map((row) => row.id),
      )
      .where('parent_job_id', 'is', null)
      .where('status', 'in', [...liveJobStatuses])
      .where((eb) => eb.or([eb('idempotency_key', 'is', null), eb('idempotency_key', 'not in', ownRuns)]))
      .groupBy('flow_id')
      .execute();
    const liveByFlow = new Map(live.map((row) => [row.flow_id, Number(row.count)]));
    return claimed
      .filter((row): row is typeof row & { next_run_at: Date } => row.next_run_at !== null)
      .map((row) => ({
        flowId: row.id,
        tenantId: row.tenant_id,
        agentId: row.agent_id,
        schedule: scheduleSchema.parse(row.schedule),
        tick: row.next_run_at,
        concurrency: row.concurrency,
        liveJobs: liveByFlow.get(row.id) ?? 0,
      }));
  });
}

/** What settling a claim records besides the next run. */
export interface ClaimSettlement {
  /** When the flow runs next; null for none (a `one_time` that ran). */
  readonly next: Date | null;
  /** Record the tick as a `skipped` job with this reason (under `idempotencyKey`). */
  readonly skipped?: { readonly reason: string; readonly idempotencyKey: string };
}

/**
 * Settles a claimed tick in one transaction: records a skipped run when
 * asked, moves `next_run_at` on and drops the claim. Guarded on the tick: a
 * flow that was paused, rescheduled or already settled meanwhile is left as
 * it is. Resolves whether the flow moved on.
 */
export async function settleClaim(context: DataMachineContext, claim: ClaimedFlow, settlement: ClaimSettlement): Promise<boolean> {
  return inTenant(context, claim.tenantId, null, async (trx) => {
    const moved = await trx
      .updateTable('dm_flows')
      .set({ next_run_at: settlement.next, schedule_claimed_until: null })
      .where('id', '=', claim.flowId)
      .where('next_run_at', '=', claim.tick)
      .where('paused', '=', false)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return false;
    if (settlement.skipped) {
      const { job, created } = await createJob(context, trx, { flowId: claim.flowId, source: 'schedule', idempotencyKey: settlement.skipped.idempotencyKey });
      // An existing job under this key is the run this tick already started.
      if (created) await transitionJob(context, trx, job.id, { to: 'skipped', reason: settlement.skipped.reason });
    }
    return true;
  });
}
