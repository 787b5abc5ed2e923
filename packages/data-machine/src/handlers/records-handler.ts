import { z } from 'zod';
import type { DataMachineContext } from '../context';
import { slugSchema } from '../input';
import { inTenant } from '../scope/tenant-transaction';
import type { PublishHandler } from './handler';

/** The configuration of `records`: the collection rows are appended to. */
export const recordsConfigSchema = z.strictObject({ collection: slugSchema });
export type RecordsConfig = z.infer<typeof recordsConfigSchema>;

/**
 * A publish handler that appends the step input as a row of `dm_records` in
 * its collection. At most one row per idempotency key and tenant: a retried
 * publish (same job and step) finds its row and reports `created: false`
 * instead of appending a second.
 *
 * @example
 * const handlers = createHandlerRegistry([jsonItemsHandler, createRecordsHandler(context)]);
 */
export function createRecordsHandler(context: DataMachineContext): PublishHandler<RecordsConfig> {
  return {
    kind: 'publish',
    slug: 'records',
    description: 'Appends each published input as a row of a named collection.',
    configSchema: recordsConfigSchema,
    async publish(request, config, call) {
      // The job's own transaction is not the handler's to hold: a publish is its own unit, keyed for retries.
      return inTenant(context, call.tenantId, null, async (trx) => {
        const inserted = await trx
          .insertInto('dm_records')
          .values({
            id: context.newId('rec'),
            tenant_id: call.tenantId,
            agent_id: call.agentId,
            flow_id: call.flowId,
            job_id: call.jobId,
            collection: config.collection,
            idempotency_key: request.idempotencyKey,
            body: JSON.stringify(request.body ?? null),
            created_at: context.now(),
          })
          .onConflict((conflict) => conflict.constraint('dm_records_idempotency_key').doNothing())
          .returning('id')
          .executeTakeFirst();
        if (inserted) return { id: inserted.id, created: true };
        const existing = await trx
          .selectFrom('dm_records')
          .select('id')
          .where('tenant_id', '=', call.tenantId)
          .where('idempotency_key', '=', request.idempotencyKey)
          .executeTakeFirstOrThrow();
        return { id: existing.id, created: false };
      });
    },
  };
}
