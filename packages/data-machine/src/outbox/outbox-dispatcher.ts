import { sql } from 'kysely';
import type { DataMachineContext } from '../context';
import { inTenant, inTransaction } from '../scope/tenant-transaction';
import type { Selectable } from 'kysely';
import type { OutboxEventTable } from '../database/data-machine-database';
import { outboxEventSchemas, type OutboxEvent, type OutboxEventType } from './outbox';

/** Receives outbox events at least once; must be idempotent. A throw is retried later with backoff. */
export interface OutboxHandler {
  /** Stable: deliveries are kept per handler name. */
  readonly name: string;
  readonly types: readonly OutboxEventType[];
  handle(event: OutboxEvent): Promise<void>;
}

/** Options of {@link dispatchOutbox}. */
export interface DispatchOptions {
  /** At most this many deliveries per tenant per call; default 100. */
  readonly batchSize?: number;
  /** Delay before attempt `n + 1` after `n` failures; default 2^n seconds, at most an hour. */
  readonly backoffMs?: (failures: number) => number;
  /** How long a claimed delivery is hidden from other dispatchers while it runs; default 5 minutes. */
  readonly claimMs?: number;
}

/** What one dispatch did. */
export interface DispatchReport {
  readonly delivered: number;
  readonly failed: number;
}

const defaultBackoff = (failures: number): number => Math.min(2 ** failures * 1000, 60 * 60 * 1000);

/**
 * Delivers due outbox events to `handlers`, at least once each, tenant by
 * tenant (every read stays inside one tenant's row-level security). A
 * delivery is claimed by pushing its next attempt past the claim window, so
 * concurrent dispatchers skip it; success marks it delivered, a failure
 * records the error and schedules a retry with backoff. A failing handler
 * never touches what caused the event. Callable directly (tests, the CLI) or
 * from a job engine's recurring job.
 */
export async function dispatchOutbox(context: DataMachineContext, handlers: readonly OutboxHandler[], options: DispatchOptions = {}): Promise<DispatchReport> {
  const tenants = await inTransaction(context, {}, (trx) => trx.selectFrom('dm_tenants').select('id').orderBy('id').execute());
  let delivered = 0;
  let failed = 0;
  for (const { id: tenantId } of tenants) {
    const report = await dispatchTenant(context, tenantId, handlers, options);
    delivered += report.delivered;
    failed += report.failed;
  }
  return { delivered, failed };
}

async function dispatchTenant(context: DataMachineContext, tenantId: string, handlers: readonly OutboxHandler[], options: DispatchOptions): Promise<DispatchReport> {
  const now = context.now();
  const claimUntil = new Date(now.getTime() + (options.claimMs ?? 5 * 60 * 1000));
  const claimed = await inTenant(context, tenantId, null, async (trx) => {
    for (const handler of handlers) {
      // A delivery row per handler for every event of its types that has none yet.
      await sql`
        insert into dm_outbox_deliveries (event_id, handler, tenant_id, agent_id, attempts, next_attempt_at)
        select e.id, ${handler.name}, e.tenant_id, e.agent_id, 0, e.created_at
        from dm_outbox_events e
        where e.tenant_id = ${tenantId} and e.type in (${sql.join(handler.types)})
        on conflict (event_id, handler) do nothing`.execute(trx);
    }
    const names = handlers.map((handler) => handler.name);
    if (names.length === 0) return [];
    // Claim: skip rows another dispatcher holds, and hide them until the claim window passes.
    const due = await sql<{ event_id: string; handler: string }>`
      update dm_outbox_deliveries set next_attempt_at = ${claimUntil}
      where (event_id, handler) in (
        select event_id, handler from dm_outbox_deliveries
        where tenant_id = ${tenantId} and delivered_at is null and next_attempt_at <= ${now} and handler in (${sql.join(names)})
        order by next_attempt_at limit ${options.batchSize ?? 100}
        for update skip locked)
      returning event_id, handler`.execute(trx);
    if (due.rows.length === 0) return [];
    const events = await trx
      .selectFrom('dm_outbox_events')
      .selectAll()
      .where('id', 'in', [...new Set(due.rows.map((row) => row.event_id))])
      .execute();
    const byId = new Map(events.map((event) => [event.id, event]));
    return due.rows.map((row) => ({ handler: row.handler, event: byId.get(row.event_id) }));
  });

  let delivered = 0;
  let failed = 0;
  for (const { handler: name, event } of claimed) {
    const handler = handlers.find((candidate) => candidate.name === name);
    if (!handler || !event) continue;
    try {
      await handler.handle(toEvent(event));
      await inTenant(context, tenantId, null, (trx) =>
        trx.updateTable('dm_outbox_deliveries').set({ delivered_at: context.now(), last_error: null }).where('event_id', '=', event.id).where('handler', '=', name).execute(),
      );
      delivered += 1;
    } catch (error) {
      failed += 1;
      const message = error instanceof Error ? error.message : String(error);
      await inTenant(context, tenantId, null, async (trx) => {
        const row = await trx
          .updateTable('dm_outbox_deliveries')
          .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: message.slice(0, 2000) }))
          .where('event_id', '=', event.id)
          .where('handler', '=', name)
          .returning('attempts')
          .executeTakeFirstOrThrow();
        const retryAt = new Date(context.now().getTime() + (options.backoffMs ?? defaultBackoff)(row.attempts));
        await trx.updateTable('dm_outbox_deliveries').set({ next_attempt_at: retryAt }).where('event_id', '=', event.id).where('handler', '=', name).execute();
      });
    }
  }
  return { delivered, failed };
}

/** An event row as handlers see it; the payload is read back through its type's schema (a bad one fails the delivery). */
function toEvent(row: Selectable<OutboxEventTable>): OutboxEvent {
  const type = row.type as OutboxEventType;
  const schema = outboxEventSchemas[type];
  if (!schema) throw new Error(`Unknown outbox event type "${row.type}"`);
  return { id: row.id, tenantId: row.tenant_id, agentId: row.agent_id, type, payload: schema.parse(row.payload), createdAt: row.created_at };
}
