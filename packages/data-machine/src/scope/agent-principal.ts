import { createPrincipal, type AuthSource, type Principal, type RequestContext } from '@data-machine/agents-api';
import { actionRules, actions, type Action } from '../access/actions';
import { actingUserId, type Actor, type ActorChannel } from '../access/actor';
import { decide } from '../access/authorize';
import type { DataMachineContext } from '../context';
import { agentNotFound, enforce, loadAccess, type Scope } from './scope';
import { findAgent } from './scoped-operation';
import { templateConfig, toAgent, type Agent } from '../agents/agent-repository';
import { inTenant } from './tenant-transaction';

/** The capability a tool declares (`capability` on a tool definition) to run only for principals allowed `tools.use`. */
export const toolUseCapability = 'tools.use' satisfies Action;

/** The actions done on one agent: a runtime principal's ceiling lists those of them its actor may do. */
export const agentActions: readonly Action[] = actions.filter((action) => 'agentRole' in actionRules[action]);

/** What a runtime principal is made for: the agent's id (for the decision) and slug (the substrate's name for it). */
export interface PrincipalAgent {
  readonly id: string;
  readonly slug: string;
}

const authSources: Readonly<Record<Actor['kind'], AuthSource>> = { user: 'user', token: 'token', schedule: 'runtime', system: 'system' };
const requestContexts: Readonly<Record<ActorChannel, RequestContext>> = { http: 'http', cli: 'cli', chat: 'chat', schedule: 'schedule', worker: 'schedule' };

/**
 * The substrate {@link Principal} an agent runs with for `scope`'s actor: the
 * acting user, the scope's tenant, the agent's slug, and a ceiling listing
 * exactly the agent actions {@link decide} allows the actor on this agent now
 * (a token's ceiling and expiry narrow it, a subscriber gets no `tools.use`).
 * A tool declaring {@link toolUseCapability} then runs only where the actor may
 * use tools. Pure: it decides on the facts the scope carries; see
 * {@link resolveAgentPrincipal} for facts loaded fresh.
 */
export function principalFor(scope: Scope, agent: PrincipalAgent, now: Date): Principal {
  const { actor } = scope;
  const allowed = agentActions.filter((action) => decide(actor, scope.facts, action, { tenantId: scope.tenantId, agentId: agent.id }, now).allowed);
  return createPrincipal({
    userId: actingUserId(actor),
    tenantId: scope.tenantId,
    agentSlug: agent.slug,
    authSource: authSources[actor.kind],
    requestContext: requestContexts[actor.channel],
    tokenId: actor.kind === 'token' ? actor.tokenId : null,
    ceiling: { allowed, denied: [] },
  });
}

/** What {@link resolveAgentPrincipal} takes. */
export interface ResolveAgentPrincipalOptions {
  readonly actor: Actor;
  readonly tenantId: string;
  /** The agent's id or slug. */
  readonly agentId: string;
  /** What the run is for, checked before the principal is made; default `flow.run` for scheduled work, else `chat`. */
  readonly action?: Action;
}

/**
 * Loads the actor's rights (and a token's current state) and the agent in one
 * transaction, refuses unless the actor may do `action` on the agent now, and
 * returns the agent's runtime principal ({@link principalFor}). Scheduled work
 * calls it when it runs, so a user who lost the grant since scheduling gets a
 * typed denial (`agent.not_found` when the agent is no longer visible to them,
 * `access.denied` when their role no longer suffices), never a run.
 */
export async function resolveAgentPrincipal(context: DataMachineContext, options: ResolveAgentPrincipalOptions): Promise<Principal> {
  return (await resolveAgentRun(context, options)).principal;
}

/** An agent a run was authorized on: the agent as the product shows it, and its runtime principal. */
export interface AgentRun {
  readonly agent: Agent;
  readonly principal: Principal;
}

/**
 * {@link resolveAgentPrincipal}, with the agent itself (its effective
 * configuration included), from the same transaction: what a chat turn
 * needs before its model call.
 */
export async function resolveAgentRun(context: DataMachineContext, options: ResolveAgentPrincipalOptions): Promise<AgentRun> {
  const action = options.action ?? (options.actor.kind === 'schedule' ? 'flow.run' : 'chat');
  const { tenantId, actor } = options;
  return inTenant(context, tenantId, actingUserId(actor), async (trx) => {
    const unresolved: Scope = { tenantId, actor, facts: { tenantId, membership: null, agentRoles: new Map(), tenantWideRole: null } };
    const [agent, access] = await Promise.all([findAgent(trx, tenantId, options.agentId), loadAccess(trx, unresolved)]);
    const scope: Scope = { tenantId, actor: access.actor, facts: access.facts };
    enforce(context, scope, access, action, agent ? { agentId: agent.id, namedAs: options.agentId } : { missingAgentRef: options.agentId });
    if (!agent) throw agentNotFound(options.agentId);
    return { agent: toAgent(agent, await templateConfig(trx, agent)), principal: principalFor(scope, agent, context.now()) };
  });
}
