import { sql } from 'kysely';
import { z } from 'zod';
import { actingUserId } from '../access/actor';
import type { Action } from '../access/actions';
import { roleHas, type AgentRole } from '../access/roles';
import type { DataMachineContext } from '../context';
import { isForeignKeyViolation, isUniqueViolation } from '../database/database-errors';
import type { TenantTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { nameSchema, parseInput } from '../input';
import { agentSlugSchema } from '@data-machine/agents-api';
import { agentNotFound, enforce, loadAccess, type Scope } from '../scope/scope';
import { agentOperation, tenantOperation, type AgentRow } from '../scope/scoped-operation';
import { inTenant, type TenantTransaction } from '../scope/tenant-transaction';
import { recordEvent } from '../outbox/outbox';
import { agentConfigSchema, effectiveConfig, type AgentConfig } from './agent-config';
import { deleteAgentSubstrateData, type DeletedSubstrateData } from './agent-substrate-data';
import { liveJobStatuses } from '../jobs/job';

/** An agent as the product shows it. */
export interface Agent {
  readonly id: string;
  readonly tenantId: string;
  readonly slug: string;
  readonly name: string;
  readonly description: string;
  readonly ownerUserId: string | null;
  /** The catalog template this agent is an install of, or null. */
  readonly templateAgentId: string | null;
  /** The tenant's default agent: created with the tenant, never deleted. */
  readonly isDefault: boolean;
  /** The agent's own configuration (an install's overrides only). */
  readonly config: AgentConfig;
  /** What runs: the template's configuration overlaid by the agent's own (equal to `config` when not an install). */
  readonly effectiveConfig: AgentConfig;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** An agent with the role the acting user holds on it. */
export interface VisibleAgent extends Agent {
  readonly role: AgentRole;
}

/** What {@link createAgent} takes. */
export const newAgentSchema = z
  .object({
    slug: agentSlugSchema,
    name: nameSchema,
    description: z.string().max(2000).default(''),
    config: agentConfigSchema.default({}),
    /** Whose agent it is; default the acting user. Another owner needs `manage_agents`. */
    ownerUserId: z.string().min(1).nullable().optional(),
  })
  .strict();
export type NewAgent = z.input<typeof newAgentSchema>;

/** What {@link updateAgent} takes: the fields to change. */
export const agentPatchSchema = z
  .object({ name: nameSchema.optional(), description: z.string().max(2000).optional(), config: agentConfigSchema.optional() })
  .strict();
export type AgentPatch = z.input<typeof agentPatchSchema>;

/**
 * Creates an agent. A member with `create_own_agent` creates agents they own,
 * up to the tenant's per-user limit, which the database enforces in the same
 * transaction (two concurrent creations at the limit yield one agent); a
 * member with `manage_agents` (and the system) creates without limit and for
 * others. Refusals: `agent.limit_reached`, `agent.slug_taken`, `access.denied`;
 * nothing is written then.
 */
export async function createAgent(context: DataMachineContext, scope: Scope, input: NewAgent): Promise<Agent> {
  const fields = parseInput(newAgentSchema, input, 'agent');
  const actingUser = actingUserId(scope.actor);
  const owner = fields.ownerUserId === undefined ? actingUser : fields.ownerUserId;
  const managesAgents = scope.actor.kind === 'system' || (scope.facts.membership !== null && roleHas(scope.facts.membership, 'manage_agents'));
  const action: Action = managesAgents || owner !== actingUser ? 'agent.create_any' : 'agent.create';
  const now = context.now();
  const row: AgentInsert = {
    id: context.newId('agt'),
    tenant_id: scope.tenantId,
    slug: fields.slug,
    name: fields.name,
    description: fields.description,
    owner_user_id: owner,
    template_agent_id: null,
    is_default: false,
    origin: 'product',
    config: JSON.stringify(fields.config),
    created_by: actingUser,
    created_at: now,
    updated_at: now,
  };
  try {
    return await tenantOperation(context, scope, action, async (trx) => {
      if (owner !== null) await countOwnedAgent(trx, scope.tenantId, owner, action === 'agent.create');
      await trx.insertInto('dm_agents').values(row).execute();
      await recordAgentCreated(context, trx, row, fields.config.soulSeed ?? null);
      return toAgent(rowAsRead(row, fields.config), null);
    });
  } catch (error) {
    throw mapAgentWriteError(error, fields.slug, owner);
  }
}

/**
 * Counts one more agent for `owner`. Limited: one conditional statement that
 * adds only while under the tenant's limit, so concurrent creations queue on
 * the counter row and the one past the limit finds no row to return.
 */
async function countOwnedAgent(trx: TenantTransaction, tenantId: string, owner: string, limited: boolean): Promise<void> {
  const limit = limited
    ? sql<number>`(select agent_limit_per_user from dm_tenants where id = ${tenantId})`
    : sql<number>`${2_147_483_647}::integer`;
  const counted = await sql<{ owned: number }>`
    insert into dm_agent_owner_counts as counts (tenant_id, user_id, owned)
    select ${tenantId}, ${owner}, 1 where ${limit} >= 1
    on conflict (tenant_id, user_id) do update set owned = counts.owned + 1 where counts.owned < ${limit}
    returning owned`.execute(trx);
  if (counted.rows.length === 0) {
    throw new DataMachineError('agent.limit_reached', 'You already own as many agents as this tenant allows.', { details: { tenantId } });
  }
}

/** The agent with this id or slug, if the scope may read it. */
export function getAgent(context: DataMachineContext, scope: Scope, agentRef: string): Promise<Agent> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => toAgent(agent, await templateConfig(trx, agent)));
}

/**
 * The agents the scope may see, with its role on each, by slug. Tenant owners
 * and admins (and the system) see every agent; a token or scheduled work only
 * its own; a non-member is told the tenant does not exist.
 */
export async function listAgents(context: DataMachineContext, scope: Scope): Promise<readonly VisibleAgent[]> {
  const userId = actingUserId(scope.actor);
  return inTenant(context, scope.tenantId, userId, async (trx) => {
    const access = await loadAccess(trx, scope);
    const { facts } = access;
    if (scope.actor.kind !== 'system' && facts.membership === null) enforce(context, scope, access, 'agent.read', {});
    if (access.actor.kind === 'token') enforce(context, scope, access, 'agent.read', { agentId: access.actor.agentId });
    const everyAgentRole: AgentRole | null = scope.actor.kind === 'system' ? 'admin' : facts.tenantWideRole;
    let query = trx.selectFrom('dm_agents').selectAll().where('tenant_id', '=', scope.tenantId).orderBy('slug');
    if (everyAgentRole === null) {
      const ids = [...facts.agentRoles.keys()];
      if (ids.length === 0) return [];
      query = query.where('id', 'in', ids);
    }
    if (scope.actor.kind === 'token' || scope.actor.kind === 'schedule') query = query.where('id', '=', scope.actor.agentId);
    const rows = await query.execute();
    const templates = await templateConfigs(trx, rows);
    return rows.map((row) => ({
      ...toAgent(row, row.template_agent_id === null ? null : (templates.get(row.template_agent_id) ?? null)),
      role: everyAgentRole ?? facts.agentRoles.get(row.id) ?? 'viewer',
    }));
  });
}

/**
 * The agent a request acts on. Named: that agent, if visible. Unnamed: the
 * only agent the caller has a role on, or the tenant's default agent for
 * tenant owners and admins; a caller with several agents must name one
 * (`access.ambiguous_agent`): no agent is picked silently.
 */
export async function chooseAgent(context: DataMachineContext, scope: Scope, agentRef: string | undefined): Promise<VisibleAgent> {
  const visible = await listAgents(context, scope);
  if (agentRef !== undefined) {
    const named = visible.find((agent) => agent.id === agentRef || agent.slug === agentRef);
    if (!named) {
      enforce(context, scope, scope, 'agent.read', { missingAgentRef: agentRef });
      throw agentNotFound(agentRef);
    }
    return named;
  }
  if (scope.actor.kind === 'token' || scope.actor.kind === 'schedule' || visible.length === 1) {
    const only = visible[0];
    if (only) return only;
  }
  const wide = scope.actor.kind === 'system' || scope.facts.tenantWideRole !== null;
  const fallback = wide ? visible.find((agent) => agent.isDefault) : undefined;
  if (fallback) return fallback;
  if (visible.length === 0) throw agentNotFound('(default)');
  throw new DataMachineError('access.ambiguous_agent', `You have ${visible.length} agents; name the one to use.`, {
    details: { agents: visible.map((agent) => agent.slug) },
  });
}

/** Changes an agent's name, description or configuration (`agent.edit`); never a template's. */
export async function updateAgent(context: DataMachineContext, scope: Scope, agentRef: string, patch: AgentPatch): Promise<Agent> {
  const fields = parseInput(agentPatchSchema, patch, 'agent change');
  return agentOperation(context, scope, 'agent.edit', agentRef, async (trx, agent) => {
    const row = await trx
      .updateTable('dm_agents')
      .set({
        ...(fields.name === undefined ? {} : { name: fields.name }),
        ...(fields.description === undefined ? {} : { description: fields.description }),
        ...(fields.config === undefined ? {} : { config: JSON.stringify(fields.config) }),
        updated_at: context.now(),
      })
      .where('id', '=', agent.id)
      .where('tenant_id', '=', scope.tenantId)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toAgent(row, await templateConfig(trx, row));
  });
}

/**
 * Deletes an agent (`agent.delete`) with everything scoped to it, in one
 * transaction: its product rows (pipelines, flows, jobs, logs, grants, tokens,
 * by cascade) and its substrate data (every user's chat transcripts and its
 * memory files). Refused, nothing deleted: the tenant's default agent
 * (`agent.protected`), a catalog template other tenants installed
 * (`agent.protected`), and an agent with a live job (`agent.busy`).
 */
export async function deleteAgent(context: DataMachineContext, scope: Scope, agentRef: string): Promise<DeletedSubstrateData> {
  return agentOperation(context, scope, 'agent.delete', agentRef, async (trx, agent) => {
    if (agent.is_default) {
      throw new DataMachineError('agent.protected', 'The default agent of a tenant cannot be deleted.', { details: { agent: agent.slug } });
    }
    // Locked first: a job being created for the agent holds a key-share lock on
    // its row, so it either committed before this (and is seen below) or waits
    // and then finds no agent.
    await trx.selectFrom('dm_agents').select('id').where('id', '=', agent.id).forUpdate().execute();
    await refuseLiveJob(trx, agent);
    const substrate = await deleteAgentSubstrateData(trx, scope.tenantId, agent.slug);
    await trx
      .deleteFrom('dm_agents')
      .where('id', '=', agent.id)
      .where('tenant_id', '=', scope.tenantId)
      .execute()
      .catch((error: unknown) => {
        throw isReferencedElsewhere(error) ? installedTemplate(agent.slug, error) : error;
      });
    if (agent.owner_user_id !== null) {
      await trx
        .updateTable('dm_agent_owner_counts')
        .set((eb) => ({ owned: eb('owned', '-', 1) }))
        .where('tenant_id', '=', scope.tenantId)
        .where('user_id', '=', agent.owner_user_id)
        .where('owned', '>', 0)
        .execute();
    }
    return substrate;
  });
}

async function refuseLiveJob(trx: TenantTransaction, agent: AgentRow): Promise<void> {
  const live = await trx.selectFrom('dm_jobs').select(['id', 'status']).where('agent_id', '=', agent.id).where('status', 'in', liveJobStatuses).limit(1).executeTakeFirst();
  if (!live) return;
  throw new DataMachineError('agent.busy', `Agent "${agent.slug}" has a ${live.status} job; cancel it or let it end, then delete the agent.`, {
    details: { agent: agent.slug, jobId: live.id, status: live.status },
  });
}

// Installs reference their template `on delete restrict`: Postgres reports 23503, PGlite 23001.
function isReferencedElsewhere(error: unknown): boolean {
  return isForeignKeyViolation(error) || (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23001');
}

function installedTemplate(slug: string, cause: unknown): DataMachineError {
  return new DataMachineError('agent.protected', `Agent "${slug}" is a template other tenants installed; it cannot be deleted while they use it.`, {
    details: { agent: slug, reason: 'installed_template' },
    cause,
  });
}

/** The row of a tenant's default agent, made with the tenant. */
export function createDefaultAgentRow(context: DataMachineContext, tenant: Pick<TenantTable, 'id' | 'name'> & { created_at: Date }, owner: string | null): AgentInsert {
  return {
    id: context.newId('agt'),
    tenant_id: tenant.id,
    slug: 'default',
    name: `${tenant.name} agent`.slice(0, 200),
    description: `The default agent of ${tenant.name}.`,
    owner_user_id: null,
    template_agent_id: null,
    is_default: true,
    origin: 'product',
    config: JSON.stringify({}),
    created_by: owner,
    created_at: tenant.created_at,
    updated_at: tenant.created_at,
  };
}

/** The configuration of the template an install references (one hop), readable through the catalog policy. */
/** The configuration of the template `agent` is an install of, or null. */
export async function templateConfig(trx: TenantTransaction, agent: Pick<AgentRow, 'template_agent_id'>): Promise<AgentConfig | null> {
  if (agent.template_agent_id === null) return null;
  return (await templateConfigs(trx, [agent])).get(agent.template_agent_id) ?? null;
}

/** The configurations of the templates `agents` reference, by template id, in one query. */
async function templateConfigs(trx: TenantTransaction, agents: readonly Pick<AgentRow, 'template_agent_id'>[]): Promise<Map<string, AgentConfig>> {
  const ids = [...new Set(agents.flatMap((agent) => (agent.template_agent_id === null ? [] : [agent.template_agent_id])))];
  if (ids.length === 0) return new Map();
  const templates = await trx.selectFrom('dm_agents').select(['id', 'config']).where('id', 'in', ids).execute();
  return new Map(templates.map((template) => [template.id, agentConfigSchema.parse(template.config)]));
}

function mapAgentWriteError(error: unknown, slug: string, owner: string | null): unknown {
  if (isUniqueViolation(error, 'dm_agents_tenant_slug_key')) {
    return new DataMachineError('agent.slug_taken', `An agent with the slug "${slug}" exists in this tenant.`, { details: { slug } });
  }
  if (isForeignKeyViolation(error)) {
    return new DataMachineError('user.not_found', `There is no user "${owner ?? ''}".`, { details: { userId: owner } });
  }
  return error;
}

/** Records `agent.created` in the transaction that created the agent, for provisioning. */
export function recordAgentCreated(context: DataMachineContext, trx: TenantTransaction, row: AgentInsert, soulSeed: string | null): Promise<string> {
  return recordEvent(context, trx, {
    tenantId: row.tenant_id,
    agentId: row.id,
    type: 'agent.created',
    payload: { agentId: row.id, slug: row.slug, name: row.name, description: row.description, soulSeed },
  });
}

/** A row about to be inserted, with every column set. */
export type AgentInsert = {
  [Column in keyof AgentRow]-?: Column extends 'config' ? string : AgentRow[Column];
};

/** The row as a read returns it, from the row as inserted. */
export function rowAsRead(row: AgentInsert, config: AgentConfig): AgentRow {
  return { ...row, config };
}

/** An agent row as the product shows it; `template` is the referenced template's configuration, if any. */
export function toAgent(row: AgentRow, template: AgentConfig | null): Agent {
  const config = agentConfigSchema.parse(row.config);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    slug: row.slug,
    name: row.name,
    description: row.description,
    ownerUserId: row.owner_user_id,
    templateAgentId: row.template_agent_id,
    isDefault: row.is_default,
    config,
    effectiveConfig: effectiveConfig(template ?? undefined, config),
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
