import { sql } from 'kysely';
import type { DataMachineContext } from '../context';
import { inTransaction } from '../scope/tenant-transaction';

/**
 * Takes or renews the lease `name` for `holder` until `expiresAt`: one
 * INSERT ... ON CONFLICT that succeeds only when no one holds the lease, the
 * holder already does, or the last holder's lease ran out. Resolves whether
 * `holder` holds it now. Row locks serialize concurrent takers, so two never
 * both succeed.
 */
export async function acquireSchedulerLease(context: DataMachineContext, name: string, holder: string, now: Date, expiresAt: Date): Promise<boolean> {
  return inTransaction(context, {}, async (trx) => {
    const taken = await trx
      .insertInto('dm_scheduler_leases')
      .values({ name, holder, expires_at: expiresAt })
      .onConflict((conflict) =>
        conflict
          .column('name')
          .doUpdateSet({ holder, expires_at: expiresAt })
          .where((eb) => eb.or([eb('dm_scheduler_leases.holder', '=', holder), eb('dm_scheduler_leases.expires_at', '<=', now)])),
      )
      .returning('holder')
      .executeTakeFirst();
    return taken !== undefined;
  });
}

/** Gives the lease up if `holder` holds it, so another scheduler takes over at once. */
export async function releaseSchedulerLease(context: DataMachineContext, name: string, holder: string): Promise<void> {
  await inTransaction(context, {}, (trx) => trx.deleteFrom('dm_scheduler_leases').where('name', '=', name).where('holder', '=', holder).execute());
}

/**
 * Claims the run of the recurring system task `name` due at or before `now`
 * and sets its next run to `next`; resolves false when it is not due or
 * another process claimed it. A task never seen before is due.
 */
export async function claimSystemTask(context: DataMachineContext, name: string, now: Date, next: Date): Promise<boolean> {
  return inTransaction(context, {}, async (trx) => {
    const claimed = await trx
      .insertInto('dm_system_tasks')
      .values({ name, next_run_at: next, last_run_at: now })
      .onConflict((conflict) =>
        conflict
          .column('name')
          .doUpdateSet({ next_run_at: next, last_run_at: now })
          .where(sql<boolean>`dm_system_tasks.next_run_at <= ${now}`),
      )
      .returning('name')
      .executeTakeFirst();
    return claimed !== undefined;
  });
}
