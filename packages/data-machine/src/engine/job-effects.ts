import { sql } from 'kysely';
import type { DataMachineContext } from '../context';
import { inTenant, type TenantTransaction } from '../scope/tenant-transaction';
import type { EffectsRecorder, RecordedEffect } from '../steps/step';

/**
 * The effects recorder of one job, backed by `dm_job_effects`. Each call
 * is its own short tenant transaction (a step never runs inside the job's
 * transaction); the first record of a key wins.
 */
export function createJobEffectsRecorder(context: DataMachineContext, tenantId: string, jobId: string): EffectsRecorder {
  return {
    find: (key) => inTenant(context, tenantId, null, (trx) => findEffect(trx, jobId, key)),
    record: (effect) => inTenant(context, tenantId, null, (trx) => recordEffect(context, trx, jobId, effect)),
    merge: (key, detail) => inTenant(context, tenantId, null, (trx) => mergeEffect(trx, jobId, key, detail)),
  };
}

/** The effect of `jobId` recorded under `key`, if any. */
export async function findEffect(trx: TenantTransaction, jobId: string, key: string): Promise<RecordedEffect | undefined> {
  const row = await trx.selectFrom('dm_job_effects').select(['key', 'kind', 'detail']).where('job_id', '=', jobId).where('key', '=', key).executeTakeFirst();
  return row ? { key: row.key, kind: row.kind, detail: row.detail } : undefined;
}

/** Records an effect of `jobId` (its tenant and agent are the job's); a key already recorded keeps its first record. */
export async function recordEffect(context: DataMachineContext, trx: TenantTransaction, jobId: string, effect: RecordedEffect): Promise<void> {
  await trx
    .insertInto('dm_job_effects')
    .columns(['tenant_id', 'agent_id', 'job_id', 'key', 'kind', 'detail', 'created_at'])
    .expression((eb) =>
      eb
        .selectFrom('dm_jobs')
        .select([
          'tenant_id',
          'agent_id',
          'id as job_id',
          eb.val(effect.key).as('key'),
          eb.val(effect.kind).as('kind'),
          eb.cast(eb.val(JSON.stringify(effect.detail)), 'jsonb').as('detail'),
          eb.val(context.now()).as('created_at'),
        ])
        .where('id', '=', jobId),
    )
    .onConflict((conflict) => conflict.columns(['job_id', 'key']).doNothing())
    .execute();
}

/** Replaces top-level fields of the detail of the effect of `jobId` recorded under `key`. */
export async function mergeEffect(trx: TenantTransaction, jobId: string, key: string, detail: Readonly<Record<string, unknown>>): Promise<void> {
  await trx
    .updateTable('dm_job_effects')
    .set({ detail: sql<string>`detail || ${JSON.stringify(detail)}::jsonb` })
    .where('job_id', '=', jobId)
    .where('key', '=', key)
    .execute();
}

/** Forgets an effect (the executor's start marker of a step that reported its own failure). */
export async function forgetEffect(trx: TenantTransaction, jobId: string, key: string): Promise<void> {
  await trx.deleteFrom('dm_job_effects').where('job_id', '=', jobId).where('key', '=', key).execute();
}
