import type { DataMachineContext } from '../context';
import { flowNotFound } from '../jobs/agent-flow';
import type { TenantTransaction } from '../scope/tenant-transaction';

// Engine-facing: these run in the worker's tenant transaction and authorize
// nothing; only the engine calls them. A processed item is (flow, step,
// source key): claimed while a job works on it, done once its steps
// completed, deleted (released) when the job failed, so it is taken again.

/** What {@link claimItems} takes. */
export interface ItemClaim {
  readonly flowId: string;
  readonly stepKey: string;
  readonly jobId: string;
  /** What the fetch yielded, in order; repeats count once. */
  readonly sourceKeys: readonly string[];
  /** At most this many are claimed (the flow's max items per run), counted after de-duplication. */
  readonly max: number;
}

// Keys per statement: bounded parameters on both drivers.
const keysPerStatement = 1_000;

/**
 * Claims the first `max` of `sourceKeys` that no job has claimed or done,
 * in the given order. Each claim is an `INSERT ... ON CONFLICT DO NOTHING`,
 * so of two jobs claiming one key concurrently exactly one gets it; a key
 * lost to such a race is replaced by the next candidate. Resolves to the
 * claimed keys, in the given order. Engine only.
 */
export async function claimItems(context: DataMachineContext, trx: TenantTransaction, claim: ItemClaim): Promise<readonly string[]> {
  const flow = await trx.selectFrom('dm_flows').select(['tenant_id', 'agent_id']).where('id', '=', claim.flowId).executeTakeFirst();
  if (!flow) throw flowNotFound(claim.flowId);
  const candidates = [...new Set(claim.sourceKeys)];
  const claimed = new Set<string>();
  let next = 0;
  while (claimed.size < claim.max && next < candidates.length) {
    const window = candidates.slice(next, next + keysPerStatement);
    next += window.length;
    const taken = new Set(
      (
        await trx
          .selectFrom('dm_processed_items')
          .select('source_key')
          .where('flow_id', '=', claim.flowId)
          .where('step_key', '=', claim.stepKey)
          .where('source_key', 'in', window)
          .execute()
      ).map((row) => row.source_key),
    );
    const fresh = window.filter((key) => !taken.has(key));
    // Insert only as many as are still wanted; keys lost to a concurrent claim leave room for the next ones.
    while (fresh.length > 0 && claimed.size < claim.max) {
      const batch = fresh.splice(0, claim.max - claimed.size);
      const inserted = await trx
        .insertInto('dm_processed_items')
        .values(
          batch.map((sourceKey) => ({
            tenant_id: flow.tenant_id,
            agent_id: flow.agent_id,
            flow_id: claim.flowId,
            step_key: claim.stepKey,
            source_key: sourceKey,
            status: 'claimed' as const,
            job_id: claim.jobId,
            claimed_at: context.now(),
          })),
        )
        .onConflict((conflict) => conflict.columns(['flow_id', 'step_key', 'source_key']).doNothing())
        .returning('source_key')
        .execute();
      for (const row of inserted) claimed.add(row.source_key);
    }
  }
  return candidates.filter((key) => claimed.has(key));
}

/** Of `sourceKeys`, those whose items a job of the flow step completed. Engine only (handlers read it through `ItemProgress`). */
export async function doneItemKeys(trx: TenantTransaction, flowId: string, stepKey: string, sourceKeys: readonly string[]): Promise<ReadonlySet<string>> {
  const done = new Set<string>();
  const candidates = [...new Set(sourceKeys)];
  for (let start = 0; start < candidates.length; start += keysPerStatement) {
    const rows = await trx
      .selectFrom('dm_processed_items')
      .select('source_key')
      .where('flow_id', '=', flowId)
      .where('step_key', '=', stepKey)
      .where('status', '=', 'done')
      .where('source_key', 'in', candidates.slice(start, start + keysPerStatement))
      .execute();
    for (const row of rows) done.add(row.source_key);
  }
  return done;
}

/** Whether any step of the flow has claimed or done `sourceKey` (an inbound delivery is used once across the flow). Engine only. */
export async function isItemKeyKnown(trx: TenantTransaction, flowId: string, sourceKey: string): Promise<boolean> {
  const row = await trx.selectFrom('dm_processed_items').select('source_key').where('flow_id', '=', flowId).where('source_key', '=', sourceKey).limit(1).executeTakeFirst();
  return row !== undefined;
}

/** Which claims a call means: every claim of a job, or named keys of a flow step (a fan-out child's item). */
export type ItemSelection =
  | { readonly jobId: string }
  | { readonly flowId: string; readonly stepKey: string; readonly sourceKeys: readonly string[] };

/** Marks the selected claims done: the items are never taken again (until retention forgets them). Resolves to how many. Engine only. */
export async function markItemsDone(context: DataMachineContext, trx: TenantTransaction, selection: ItemSelection): Promise<number> {
  if (selectsNothing(selection)) return 0;
  const result = await selected(trx.updateTable('dm_processed_items').set({ status: 'done', done_at: context.now() }).where('status', '=', 'claimed'), selection).executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Deletes the selected claims (never a done item), so a failed job's items are taken again. Resolves to how many. Engine only. */
export async function releaseItems(trx: TenantTransaction, selection: ItemSelection): Promise<number> {
  if (selectsNothing(selection)) return 0;
  const result = await selected(trx.deleteFrom('dm_processed_items').where('status', '=', 'claimed'), selection).executeTakeFirst();
  return Number(result.numDeletedRows);
}

interface Filterable {
  where(column: 'job_id' | 'flow_id' | 'step_key', operator: '=', value: string): this;
  where(column: 'source_key', operator: 'in', value: readonly string[]): this;
}

function selected<Query extends Filterable>(query: Query, selection: ItemSelection): Query {
  if ('jobId' in selection) return query.where('job_id', '=', selection.jobId);
  return query.where('flow_id', '=', selection.flowId).where('step_key', '=', selection.stepKey).where('source_key', 'in', selection.sourceKeys);
}

/** An empty key list selects nothing (and SQL `in ()` is invalid). */
function selectsNothing(selection: ItemSelection): boolean {
  return !('jobId' in selection) && selection.sourceKeys.length === 0;
}
