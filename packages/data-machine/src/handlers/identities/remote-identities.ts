import type { DataMachineContext } from '../../context';
import { inTenant } from '../../scope/tenant-transaction';
import type { HandlerContext } from '../handler';

/** Which remote object an item key names: the handler, where the object lives, and the key. */
export interface RemoteIdentityKey {
  readonly handler: string;
  /** Where the object lives (a site URL). */
  readonly target: string;
  readonly key: string;
}

/**
 * The outcome of {@link reserveRemoteIdentity}: `reserved` (this caller now
 * creates the object, then binds it), `bound` (the object exists: update it),
 * or `busy` (another caller holds a fresh reservation and has not bound yet).
 */
export type RemoteIdentityReservation =
  | { readonly status: 'reserved' }
  | { readonly status: 'bound'; readonly remoteId: string }
  | { readonly status: 'busy'; readonly reservedBy: string };

/** How long an unbound reservation holds before another caller may take it over (a worker that died mid-call). */
export const remoteIdentityLeaseMs = 10 * 60 * 1000;

/**
 * Reserves `identity` for `owner` (the publish's idempotency key) before the
 * remote call that creates its object, so two racing jobs create one object:
 * the first insert wins, the other sees `busy` (or `bound` once the winner
 * has bound). The same owner, or anyone after {@link remoteIdentityLeaseMs},
 * takes an unbound reservation over: a retry of the same publish continues.
 */
export function reserveRemoteIdentity(context: DataMachineContext, call: HandlerContext, identity: RemoteIdentityKey, owner: string): Promise<RemoteIdentityReservation> {
  return inTenant(context, call.tenantId, null, async (trx) => {
    const now = context.now();
    const inserted = await trx
      .insertInto('dm_remote_identities')
      .values({
        id: context.newId('rid'),
        tenant_id: call.tenantId,
        agent_id: call.agentId,
        handler: identity.handler,
        target: identity.target,
        identity_key: identity.key,
        remote_id: null,
        reserved_by: owner,
        reserved_at: now,
        updated_at: now,
      })
      .onConflict((conflict) => conflict.constraint('dm_remote_identities_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted) return { status: 'reserved' };
    const row = await trx
      .selectFrom('dm_remote_identities')
      .select(['id', 'remote_id', 'reserved_by', 'reserved_at'])
      .where('handler', '=', identity.handler)
      .where('target', '=', identity.target)
      .where('identity_key', '=', identity.key)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (row.remote_id !== null) return { status: 'bound', remoteId: row.remote_id };
    if (row.reserved_by !== owner && now.getTime() - row.reserved_at.getTime() < remoteIdentityLeaseMs) return { status: 'busy', reservedBy: row.reserved_by };
    await trx.updateTable('dm_remote_identities').set({ reserved_by: owner, reserved_at: now, updated_at: now }).where('id', '=', row.id).execute();
    return { status: 'reserved' };
  });
}

/** Records the remote object `identity` names, ending its reservation. */
export function bindRemoteIdentity(context: DataMachineContext, call: HandlerContext, identity: RemoteIdentityKey, remoteId: string): Promise<void> {
  return inTenant(context, call.tenantId, null, async (trx) => {
    await trx
      .updateTable('dm_remote_identities')
      .set({ remote_id: remoteId, updated_at: context.now() })
      .where('handler', '=', identity.handler)
      .where('target', '=', identity.target)
      .where('identity_key', '=', identity.key)
      .execute();
  });
}

/** Drops `owner`'s unbound reservation of `identity`, after a create the remote refused for good. */
export function releaseRemoteIdentity(context: DataMachineContext, call: HandlerContext, identity: RemoteIdentityKey, owner: string): Promise<void> {
  return inTenant(context, call.tenantId, null, async (trx) => {
    await trx
      .deleteFrom('dm_remote_identities')
      .where('handler', '=', identity.handler)
      .where('target', '=', identity.target)
      .where('identity_key', '=', identity.key)
      .where('reserved_by', '=', owner)
      .where('remote_id', 'is', null)
      .execute();
  });
}
