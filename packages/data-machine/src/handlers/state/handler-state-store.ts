import type { DataMachineContext } from '../../context';
import { inTenant } from '../../scope/tenant-transaction';
import type { HandlerContext } from '../handler';

/**
 * What a handler remembers for one flow step between calls: one JSON
 * document per (flow, step, handler). A feed keeps its ETag, Last-Modified
 * and watermark here. The handler validates what it reads back.
 */
export interface HandlerStateStore {
  /** The state `handler` last wrote for the call's flow step, or undefined. */
  read(call: HandlerContext, handler: string): Promise<unknown>;
  /** Replaces that state. */
  write(call: HandlerContext, handler: string, state: unknown): Promise<void>;
}

/** A {@link HandlerStateStore} on `dm_handler_state`, confined to the call's tenant by row-level security. */
export function createHandlerStateStore(context: DataMachineContext): HandlerStateStore {
  return {
    read: (call, handler) =>
      inTenant(context, call.tenantId, null, async (trx) => {
        const row = await trx
          .selectFrom('dm_handler_state')
          .select('state')
          .where('flow_id', '=', call.flowId)
          .where('step_key', '=', call.stepKey)
          .where('handler', '=', handler)
          .executeTakeFirst();
        return row?.state;
      }),
    write: (call, handler, state) =>
      inTenant(context, call.tenantId, null, async (trx) => {
        const values = { state: JSON.stringify(state), updated_at: context.now() };
        await trx
          .insertInto('dm_handler_state')
          .values({ tenant_id: call.tenantId, agent_id: call.agentId, flow_id: call.flowId, step_key: call.stepKey, handler, ...values })
          .onConflict((conflict) => conflict.columns(['flow_id', 'step_key', 'handler']).doUpdateSet(values))
          .execute();
      }),
  };
}
