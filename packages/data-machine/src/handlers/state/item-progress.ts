import type { DataMachineContext } from '../../context';
import { doneItemKeys } from '../../items/processed-items';
import { inTenant } from '../../scope/tenant-transaction';
import type { HandlerContext } from '../handler';

/**
 * What a fetch handler may ask about the items it yielded before: which of
 * them a job of its flow step has completed. A handler that keeps a
 * watermark moves it only past completed items, so an item whose job failed
 * (and was released) is offered again on the next run.
 */
export interface ItemProgress {
  /** Of `sourceKeys`, those completed for the call's flow step. */
  done(call: HandlerContext, sourceKeys: readonly string[]): Promise<ReadonlySet<string>>;
}

/** {@link ItemProgress} over `dm_processed_items`, confined to the call's tenant. */
export function createItemProgress(context: DataMachineContext): ItemProgress {
  return {
    done: (call, sourceKeys) => (sourceKeys.length === 0 ? Promise.resolve(new Set<string>()) : inTenant(context, call.tenantId, null, (trx) => doneItemKeys(trx, call.flowId, call.stepKey, sourceKeys))),
  };
}
