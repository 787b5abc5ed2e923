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
export async function inTransaction<T>(context: DataMachineContext, keys: TransactionKeys, work: (trx: TenantTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  return context.db.transaction().execute(async (trx) => {
    await setKeys(trx, context.appRole, keys, options);
    return work(trx);
  });
}

/** Options of {@link inTransaction} and {@link inTenant}. */
export interface TransactionOptions {
  /**
   * Commit without waiting for the write-ahead log to reach disk
   * (`synchronous_commit = off` for this transaction only): a crash of the
   * database may lose it, never half of it. Only for a transaction whose
   * loss a later synchronous commit or a re-delivery repairs: the engine's
   * (docs/decisions/2026-12-01-engine-speed.md, "commits"). Default false.
   */
  readonly asynchronousCommit?: boolean;
}

/** Runs `work` in a transaction confined to `tenantId`. */
export function inTenant<T>(context: DataMachineContext, tenantId: string, userId: string | null, work: (trx: TenantTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  return inTransaction(context, { tenantId, userId }, work, options);
}

/** Makes an open transaction commit synchronously again (undoes {@link TransactionOptions.asynchronousCommit}). */
export async function commitSynchronously(trx: TenantTransaction): Promise<void> {
  await sql`select set_config('synchronous_commit', 'on', true)`.execute(trx);
}

async function setKeys(trx: Kysely<DataMachineDatabase>, role: string | null, keys: TransactionKeys, options: TransactionOptions): Promise<void> {
  await keysStatement(role, keys, options).execute(trx);
}

/**
 * The statement that opens row-level security for a transaction: the role
 * and the keys, local to the transaction. Also the first statement of a
 * one-round-trip batch (`runScoped`, scope/scoped-statements.ts).
 */
export function keysStatement(role: string | null, keys: BatchKeys, options: TransactionOptions): RawBuilder<unknown> {
  // One round trip: the role switch and the settings together (set_config's third argument makes
  // each local to the transaction; `role` is the setting SET LOCAL ROLE changes). See
  // docs/decisions/2026-12-01-request-path-speed.md
  // and 2026-12-01-engine-speed.md (the same trick, found twice; the commit mode rides on it too).
  const commit = options.asynchronousCommit === true ? sql`, set_config('synchronous_commit', 'off', true)` : sql``;
  return sql`select ${role === null ? sql`null` : sql`set_config('role', ${role}, true)`}, ${keySettings(keys)}${commit}`;
}

/**
 * {@link TransactionKeys} for a batch (scope/scoped-statements.ts), whose
 * tenant may also be SQL computed by the batch's earlier statements (the
 * engine's folded fetch: the tenant of the first job it fetched).
 */
export type BatchKeys = Omit<TransactionKeys, 'tenantId'> & { readonly tenantId?: string | RawBuilder<string> | null };

function keySettings(keys: BatchKeys): RawBuilder<unknown> {
  return sql`set_config('dm.tenant_id', ${keys.tenantId ?? ''}, true), set_config('dm.user_id', ${keys.userId ?? ''}, true), set_config('dm.token_hash', ${keys.tokenHash ?? ''}, true)`;
}
