import type { Action } from '../access/actions';
import { actingUserId, type AccessFacts } from '../access/actor';
import type { DataMachineContext } from '../context';
import type { Selectable } from 'kysely';
import type { AgentTable } from '../database/data-machine-database';
import { agentNotFound, enforce, loadAccess, type Scope } from './scope';
import { inTenant, type TenantTransaction } from './tenant-transaction';

/** An agent row as a scoped operation reads it. */
export type AgentRow = Selectable<AgentTable>;

/**
 * Runs a tenant-level `action` for `scope`: in one transaction confined to
 * the tenant, the acting user's rights are loaded afresh and decided on before
 * `work` runs, so a right revoked since the scope was resolved no longer counts.
 */
export function tenantOperation<T>(
  context: DataMachineContext,
  scope: Scope,
  action: Action,
  work: (trx: TenantTransaction, facts: AccessFacts) => Promise<T>,
): Promise<T> {
  return inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
    const access = await loadAccess(trx, scope);
    enforce(context, scope, access, action, {});
    return work(trx, access.facts);
  });
}

/**
 * Runs an agent-level `action` on the agent `agentRef` (its id or slug) of
 * the scope's tenant: loads the agent and the acting user's rights in the
 * same transaction, decides, then runs `work`. A missing agent and one the
 * actor may not see are the same `agent.not_found`.
 */
export function agentOperation<T>(
  context: DataMachineContext,
  scope: Scope,
  action: Action,
  agentRef: string,
  work: (trx: TenantTransaction, agent: AgentRow, facts: AccessFacts) => Promise<T>,
): Promise<T> {
  return inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
    const [agent, access] = await Promise.all([findAgent(trx, scope.tenantId, agentRef), loadAccess(trx, scope)]);
    // A missing agent is logged and refused exactly as one that exists but is invisible.
    enforce(context, scope, access, action, agent ? { agentId: agent.id, namedAs: agentRef } : { missingAgentRef: agentRef });
    if (!agent) throw agentNotFound(agentRef);
    return work(trx, agent, access.facts);
  });
}

/** The agent of this tenant with id or slug `agentRef` (never a catalog's, which RLS would also show). */
export async function findAgent(trx: TenantTransaction, tenantId: string, agentRef: string): Promise<AgentRow | undefined> {
  return trx
    .selectFrom('dm_agents')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('id', '=', agentRef), eb('slug', '=', agentRef)]))
    .executeTakeFirst();
}

