import type { Kysely } from 'kysely';
import type { TenantCapability } from '../../src/access/roles';
import { createAgent, type Agent } from '../../src/agents/agent-repository';
import type { DataMachineDatabase } from '../../src/database/data-machine-database';
import type { DataMachineContext } from '../../src/context';
import { DataMachineError, type DataMachineErrorCode } from '../../src/errors';
import { grantAgentRole } from '../../src/grants/grant-repository';
import type { PublishHandler } from '../../src/handlers/handler';
import { createHandlerRegistry, type HandlerRegistry } from '../../src/handlers/handler-registry';
import { jsonItemsHandler } from '../../src/handlers/json-items-handler';
import { createRecordsHandler, recordsConfigSchema, type RecordsConfig } from '../../src/handlers/records-handler';
import { resolveScope, type Scope } from '../../src/scope/scope';
import { authenticateAgentToken, createAgentToken } from '../../src/tokens/agent-token-repository';
import type { PipelineStepInput } from '../../src/steps/step';
import { addMember } from '../../src/tenants/tenant-repository';
import type { Tenant } from '../../src/tenants/tenant-repository';
import { newUser, scopeOf, tenantWithMembers } from './identity-fixture';

/** The two built-in handlers, as a host registers them. */
export function builtInHandlers(context: DataMachineContext): HandlerRegistry {
  return createHandlerRegistry([jsonItemsHandler, createRecordsHandler(context)]);
}

/**
 * The built-in handlers for checks that read only schemas and kinds (no
 * database): `records` has its real slug, kind and schema; its publish is never called.
 */
export function schemaHandlers(): HandlerRegistry {
  const records: PublishHandler<RecordsConfig> = {
    kind: 'publish',
    slug: 'records',
    description: 'The records schema, for validation without a database.',
    configSchema: recordsConfigSchema,
    publish: () => Promise.reject(new Error('schemaHandlers() are for validation only')),
  };
  return createHandlerRegistry([jsonItemsHandler, records]);
}

/** fetch (json_items) -> ai -> publish (records): the pipeline most tests use. */
export const digestSteps: readonly PipelineStepInput[] = [
  { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
  { key: 'summarize', type: 'ai' },
  { key: 'store', type: 'publish', handler: 'records' },
];

/** A flow configuration that passes {@link digestSteps}. */
export const digestStepConfig = {
  fetch: { handlerConfig: { items: [{ id: 'a', title: 'A' }] }, queues: { config_patch: 'drain' as const } },
  summarize: { queues: { prompt: 'loop' as const } },
  store: { handlerConfig: { collection: 'digests' } },
};

/** An agent `bot` in a new tenant, and the scopes of each kind of person around it. */
export interface FlowWorld {
  readonly tenant: Tenant;
  readonly agent: Agent;
  readonly handlers: HandlerRegistry;
  /** The tenant owner: admin on every agent. */
  readonly owner: Scope;
  /** Members of the tenant (editors) with that role on `bot`. */
  readonly admin: Scope;
  readonly operator: Scope;
  readonly viewer: Scope;
  /** A member of the tenant with no role on `bot`. */
  readonly member: Scope;
  readonly userIds: { readonly admin: string; readonly operator: string; readonly viewer: string; readonly member: string };
}

/** Sets up a {@link FlowWorld} in a tenant with the slug `slug`. */
export async function flowWorld(context: DataMachineContext, slug: string): Promise<FlowWorld> {
  const { tenant, owner } = await tenantWithMembers(context, slug);
  const ownerScope = await scopeOf(context, owner.id, tenant.id);
  const agent = await createAgent(context, ownerScope, { slug: 'bot', name: 'Bot' });
  const userIds = { admin: '', operator: '', viewer: '', member: '' };
  for (const role of ['admin', 'operator', 'viewer', 'member'] as const) {
    const user = await newUser(context, `${slug}-${role}`);
    await addMember(context, ownerScope, { userId: user.id, role: 'editor' });
    if (role !== 'member') await grantAgentRole(context, ownerScope, 'bot', { userId: user.id, role });
    userIds[role] = user.id;
  }
  const scopes = await Promise.all([userIds.admin, userIds.operator, userIds.viewer, userIds.member].map((userId) => scopeOf(context, userId, tenant.id)));
  const [admin, operator, viewer, member] = scopes as [Scope, Scope, Scope, Scope];
  return { tenant, agent, handlers: builtInHandlers(context), owner: ownerScope, admin, operator, viewer, member, userIds };
}

/** The `details.issues` of the `code` error `work` throws, or `'valid'` when it throws nothing; any other error is rethrown. */
export function issuesThrown(code: DataMachineErrorCode, work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    if (DataMachineError.isInstance(error) && error.code === code) return error.details?.issues;
    throw error;
  }
  return 'valid';
}

/** How many pipelines and flows the agent has, read past row-level security (the test's own connection). */
export async function definitionCounts(db: Kysely<DataMachineDatabase>, agentId: string): Promise<{ pipelines: number; flows: number }> {
  const [pipelines, flows] = await Promise.all([
    db.selectFrom('dm_pipelines').select('id').where('agent_id', '=', agentId).execute(),
    db.selectFrom('dm_flows').select('id').where('agent_id', '=', agentId).execute(),
  ]);
  return { pipelines: pipelines.length, flows: flows.length };
}

/** An agent token of `scope`'s user on `bot` with `ceiling`, and the scope it authenticates as. */
export async function tokenScope(context: DataMachineContext, scope: Scope, ceiling: readonly TenantCapability[]): Promise<Scope> {
  const { secret } = await createAgentToken(context, scope, 'bot', { label: 'test', ceiling: [...ceiling] });
  const { actor, tenantId } = await authenticateAgentToken(context, secret, 'http');
  return resolveScope(context, actor, tenantId);
}
