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
  options: AgentOperationOptions = {},
): Promise<T> {
  return inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
    const [agent, access] = options.lockAgent === true
      ? // The agent first, then the rights: the agent's deletion takes them in the
        // other order (its rights `for share`, then the agent), and its cascade
        // waits for our share of a grant, so rights held before waiting on the
        // agent could deadlock with it.
        [await findAgent(trx, scope.tenantId, agentRef, { lock: true }), await loadAccess(trx, scope)]
      : await Promise.all([findAgent(trx, scope.tenantId, agentRef), loadAccess(trx, scope)]);
    // A missing agent is logged and refused exactly as one that exists but is invisible.
    enforce(context, scope, access, action, agent ? { agentId: agent.id, namedAs: agentRef } : { missingAgentRef: agentRef });
    if (!agent) throw agentNotFound(agentRef);
    return work(trx, agent, access.facts);
  });
}

/** Options of {@link agentOperation}. */
export interface AgentOperationOptions {
  /**
   * Reads the agent row `for key share` and holds it until the transaction
   * ends: the agent's deletion (which takes it `for update`) waits for `work`,
   * or `work` never runs and the caller gets `agent.not_found`. For work that
   * writes rows the deletion clears but no foreign key ties to the agent (the
   * substrate's memory files, keyed by slug). Default false.
   */
  readonly lockAgent?: boolean;
}

/**
 * The agent of this tenant with id or slug `agentRef` (never a catalog's, which RLS would also show);
 * `lock` reads it `for key share` (see {@link AgentOperationOptions.lockAgent}).
 */
export async function findAgent(trx: TenantTransaction, tenantId: string, agentRef: string, { lock = false }: { readonly lock?: boolean } = {}): Promise<AgentRow | undefined> {
  const query = trx
    .selectFrom('dm_agents')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('id', '=', agentRef), eb('slug', '=', agentRef)]));
  return (lock ? query.forKeyShare() : query).executeTakeFirst();
}

