import { z } from 'zod';
import type { DataMachineContext } from '../context';
import type { TenantTransaction } from '../scope/tenant-transaction';

/** The events the product records, with the schema their JSON payload is read back through. */
export const outboxEventSchemas = {
  /** An agent was created (directly, as a tenant's default, or by a template install). */
  'agent.created': z.object({ agentId: z.string(), slug: z.string(), name: z.string(), description: z.string(), soulSeed: z.string().nullable() }),
} as const;
export type OutboxEventTypes = { [Type in keyof typeof outboxEventSchemas]: z.infer<(typeof outboxEventSchemas)[Type]> };
export type OutboxEventType = keyof OutboxEventTypes;

/** An event as a handler receives it. */
export interface OutboxEvent<Type extends OutboxEventType = OutboxEventType> {
  readonly id: string;
  readonly tenantId: string;
  readonly agentId: string;
  readonly type: Type;
  readonly payload: OutboxEventTypes[Type];
  readonly createdAt: Date;
}

/**
 * Records `type` in the caller's transaction: the event exists exactly when
 * what caused it was committed. The context's `onEventRecorded` runs in the
 * same transaction (a dispatch kick that commits with the event).
 */
export async function recordEvent<Type extends OutboxEventType>(
  context: DataMachineContext,
  trx: TenantTransaction,
  event: { readonly tenantId: string; readonly agentId: string; readonly type: Type; readonly payload: OutboxEventTypes[Type] },
): Promise<string> {
  const id = context.newId('evt');
  await trx
    .insertInto('dm_outbox_events')
    .values({ id, tenant_id: event.tenantId, agent_id: event.agentId, type: event.type, payload: JSON.stringify(event.payload), created_at: context.now() })
    .execute();
  await context.onEventRecorded?.(trx);
  return id;
}
