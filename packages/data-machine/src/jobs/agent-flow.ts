import type { Selectable } from 'kysely';
import type { FlowTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import type { TenantTransaction } from '../scope/tenant-transaction';

/** A flow row as operator functions read it. */
export type FlowRow = Selectable<FlowTable>;

/** The flow of `agentId` with id or slug `flowRef`; another agent's flow is not found, exactly as a missing one. */
export async function findAgentFlow(trx: TenantTransaction, agentId: string, flowRef: string): Promise<FlowRow> {
  const flow = await trx
    .selectFrom('dm_flows')
    .selectAll()
    .where('agent_id', '=', agentId)
    .where((eb) => eb.or([eb('id', '=', flowRef), eb('slug', '=', flowRef)]))
    .executeTakeFirst();
  if (!flow) throw flowNotFound(flowRef);
  return flow;
}

/** The error for a flow that does not exist or belongs to an agent the caller named otherwise. */
export function flowNotFound(flowRef: string): DataMachineError {
  return new DataMachineError('flow.not_found', `There is no flow "${flowRef}".`, { details: { flow: flowRef } });
}
