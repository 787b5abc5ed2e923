import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { DataMachineContext } from '../context';
import type { DataMachineDatabase } from '../database/data-machine-database';

/** A transaction whose queries row-level security confines to one tenant. */
export type TenantTransaction = Transaction<DataMachineDatabase>;

/** Settings a transaction opens row-level security with; each unset one matches nothing. */
export interface TransactionKeys {
  /** The tenant whose rows the transaction sees. */
  readonly tenantId?: string | null;
  /** The acting user: lets the transaction list that user's memberships in every tenant. */
  readonly userId?: string | null;
  /** The hash of a presented token secret: lets authentication find that one token. */
  readonly tokenHash?: string | null;
}

/**
 * Runs `work` in a transaction as the context's plain role with the given
 * keys set for this transaction only. The one place that opens a scoped
 * transaction: every repository goes through it, so a query without a tenant
 * key sees no tenant rows at all.
 */
export async function inTransaction<T>(context: DataMachineContext, keys: TransactionKeys, work: (trx: TenantTransaction) => Promise<T>): Promise<T> {
  return context.db.transaction().execute(async (trx) => {
    await setKeys(trx, context.appRole, keys);
    return work(trx);
  });
}

/** Runs `work` in a transaction confined to `tenantId`. */
export function inTenant<T>(context: DataMachineContext, tenantId: string, userId: string | null, work: (trx: TenantTransaction) => Promise<T>): Promise<T> {
  return inTransaction(context, { tenantId, userId }, work);
}

async function setKeys(trx: Kysely<DataMachineDatabase>, role: string | null, keys: TransactionKeys): Promise<void> {
  // One round trip: the role switch and the settings together (set_config's third argument makes
  // each local to the transaction; `role` is the setting SET LOCAL ROLE changes). See
  // docs/decisions/2026-12-01-request-path-speed.md
  // and 2026-12-01-engine-speed.md (the same trick, found twice).
  await sql`select ${role === null ? sql`null` : sql`set_config('role', ${role}, true)`}, ${keySettings(keys)}`.execute(trx);
}

function keySettings(keys: TransactionKeys): RawBuilder<unknown> {
  return sql`set_config('dm.tenant_id', ${keys.tenantId ?? ''}, true), set_config('dm.user_id', ${keys.userId ?? ''}, true), set_config('dm.token_hash', ${keys.tokenHash ?? ''}, true)`;
}
