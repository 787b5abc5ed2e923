import type { TenantRole } from '../../src/access/roles';
import type { DataMachineContext } from '../../src/context';
import { inTenant, type TenantTransaction } from '../../src/scope/tenant-transaction';
import type { Tenant } from '../../src/tenants/tenant-repository';
import type { User } from '../../src/users/user-repository';
import { tenantWithMembers } from './identity-fixture';

/** The steps every fixture pipeline has, by key. */
export const fixtureSteps = ['fetch', 'ai', 'publish'] as const;

/** A tenant with members, its default agent, and one pipeline with one flow on it. */
export interface EngineWorld {
  readonly tenant: Tenant;
  readonly owner: User;
  readonly members: Record<string, User>;
  readonly agentId: string;
  readonly pipelineId: string;
  readonly flowId: string;
  readonly flowSlug: string;
}

/**
 * A tenant (members with `roles`) whose default agent has a pipeline of
 * {@link fixtureSteps} and a flow on it. The rows are inserted directly, as
 * the engine's own tables would hold them: the pipelines and flows modules
 * are not this fixture's subject.
 */
export async function agentWithFlow(context: DataMachineContext, slug: string, roles: readonly TenantRole[] = []): Promise<EngineWorld> {
  const { tenant, owner, members, defaultAgentId } = await tenantWithMembers(context, slug, roles);
  const { pipelineId, flowId } = await addFlow(context, tenant.id, defaultAgentId, 'main');
  return { tenant, owner, members, agentId: defaultAgentId, pipelineId, flowId, flowSlug: 'main' };
}

/** Another pipeline and flow of `agentId`, both with slug `slug`. */
export async function addFlow(context: DataMachineContext, tenantId: string, agentId: string, slug: string): Promise<{ pipelineId: string; flowId: string }> {
  const pipelineId = context.newId('ppl');
  const flowId = context.newId('flw');
  const now = context.now();
  await asEngine(context, tenantId, async (trx) => {
    await trx
      .insertInto('dm_pipelines')
      .values({
        id: pipelineId,
        tenant_id: tenantId,
        agent_id: agentId,
        slug,
        name: slug,
        steps: JSON.stringify(fixtureSteps.map((key) => ({ key, type: key, handler: null, config: {} }))),
        created_by: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await trx
      .insertInto('dm_flows')
      .values({ id: flowId, tenant_id: tenantId, agent_id: agentId, pipeline_id: pipelineId, slug, name: slug, created_by: null, created_at: now, updated_at: now })
      .execute();
  });
  return { pipelineId, flowId };
}

/** Runs `work` as the engine does: in a transaction confined to the tenant, acting as no user. */
export function asEngine<T>(context: DataMachineContext, tenantId: string, work: (trx: TenantTransaction) => Promise<T>): Promise<T> {
  return inTenant(context, tenantId, null, work);
}
