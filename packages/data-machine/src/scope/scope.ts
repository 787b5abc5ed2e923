import type { Action } from '../access/actions';
import { actingUserId, type AccessFacts, type Actor } from '../access/actor';
import { decide, type Decision } from '../access/authorize';
import { agentRoleAtLeast, tenantAdminRoles, type AgentRole, type TenantRole } from '../access/roles';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { inTenant, type TenantTransaction } from './tenant-transaction';


/**
 * A resolved scope: who acts, in which tenant, and what the database said
 * about their rights when the request began. Every repository function takes
 * one first; there is no way to read product rows without it.
 */
export interface Scope {
  readonly tenantId: string;
  readonly actor: Actor;
  readonly facts: AccessFacts;
}

/**
 * Loads the acting user's membership and agent roles in `tenantId` and
 * returns the scope. A token or scheduled work is held to its one agent
 * later, by {@link authorize}. Fresh per request: rights revoked a moment ago are gone.
 */
export async function resolveScope(context: DataMachineContext, actor: Actor, tenantId: string): Promise<Scope> {
  const userId = actingUserId(actor);
  const facts = await inTenant(context, tenantId, userId, (trx) => loadFacts(trx, tenantId, userId));
  return Object.freeze({ tenantId, actor, facts });
}

/** What a transaction decides on: the actor as it is now (a token re-read) and the acting user's facts. */
export interface CurrentAccess {
  readonly actor: Actor;
  readonly facts: AccessFacts;
}

/**
 * Loads the acting user's facts and, for a token, the token's current
 * revocation, expiry and ceiling, inside the transaction that will act on
 * them: a token revoked or a grant removed after the scope was resolved no
 * longer counts. A token that no longer exists counts as revoked.
 */
export async function loadAccess(trx: TenantTransaction, scope: Scope): Promise<CurrentAccess> {
  const userId = actingUserId(scope.actor);
  const { actor } = scope;
  if (actor.kind !== 'token') return { actor, facts: await loadFacts(trx, scope.tenantId, userId) };
  const [facts, token] = await Promise.all([
    loadFacts(trx, scope.tenantId, userId),
    trx.selectFrom('dm_agent_tokens').select(['revoked_at', 'expires_at', 'ceiling']).where('id', '=', actor.tokenId).executeTakeFirst(),
  ]);
  const current: Actor = token
    ? { ...actor, revokedAt: token.revoked_at, expiresAt: token.expires_at, ceiling: token.ceiling as Extract<Actor, { kind: 'token' }>['ceiling'] }
    : { ...actor, revokedAt: new Date(0) };
  return { actor: current, facts };
}

/**
 * The facts of one user in the tenant the transaction is confined to. The
 * membership and grant rows are read `for share`: a grant being revoked or
 * changed by a transaction not yet committed is waited for, then read as it
 * ends, so a request never writes on a right revoked while it ran; and a
 * revocation waits for the requests that already decided on the grant.
 */
export async function loadFacts(trx: TenantTransaction, tenantId: string, userId: string | null): Promise<AccessFacts> {
  if (userId === null) return { tenantId, membership: null, agentRoles: new Map(), tenantWideRole: null };
  const membership = await trx.selectFrom('dm_memberships').select('role').where('tenant_id', '=', tenantId).where('user_id', '=', userId).forShare().executeTakeFirst();
  const role = (membership?.role ?? null) as TenantRole | null;
  const agentRoles = new Map<string, AgentRole>();
  if (role === null) return { tenantId, membership: null, agentRoles, tenantWideRole: null };
  const [grants, owned] = await Promise.all([
    trx.selectFrom('dm_agent_grants').select(['agent_id', 'role']).where('tenant_id', '=', tenantId).where('user_id', '=', userId).forShare().execute(),
    trx.selectFrom('dm_agents').select('id').where('tenant_id', '=', tenantId).where('owner_user_id', '=', userId).execute(),
  ]);
  for (const grant of grants) agentRoles.set(grant.agent_id, grant.role as AgentRole);
  // The owner always holds admin, whatever a grant row says.
  for (const agent of owned) agentRoles.set(agent.id, 'admin');
  return { tenantId, membership: role, agentRoles, tenantWideRole: tenantAdminRoles.includes(role) ? 'admin' : null };
}

/** Decides without throwing; see {@link decide}. */
export function check(context: DataMachineContext, scope: Scope, action: Action, agentId?: string): Decision {
  return decide(scope.actor, scope.facts, action, { tenantId: scope.tenantId, ...(agentId === undefined ? {} : { agentId }) }, context.now());
}

/**
 * Throws unless `scope` may do `action` (on `agentId`), by the facts the
 * scope was resolved with. An agent the actor may not see is
 * `agent.not_found`, exactly as a missing one; anything else refused is
 * `access.denied` with the reason. Every denial is logged.
 */
export function authorize(context: DataMachineContext, scope: Scope, action: Action, agentId?: string): void {
  enforce(context, scope, scope, action, agentId === undefined ? {} : { agentId });
}

/** Where {@link enforce} applies a decision: an agent by id, a reference that matched no agent, or the tenant. */
export interface EnforceTarget {
  readonly agentId?: string;
  /** The id or slug the caller named, when no agent of the tenant has it. */
  readonly missingAgentRef?: string;
  /** The id or slug the caller named the agent by: a refusal repeats it, never the agent's id, so an invisible agent reads exactly like a missing one. */
  readonly namedAs?: string;
}

/** Decides on `facts`, logs a denial with its reason, and throws the typed error for it. */
export function enforce(context: DataMachineContext, scope: Scope, access: CurrentAccess, action: Action, target: EnforceTarget): void {
  const decision: Decision =
    target.missingAgentRef !== undefined
      ? { allowed: false, reason: 'agent_invisible', visible: false, message: 'No such agent in this tenant.' }
      : decide(access.actor, access.facts, action, { tenantId: scope.tenantId, ...(target.agentId === undefined ? {} : { agentId: target.agentId }) }, context.now());
  if (decision.allowed) return;
  const agentRef = target.missingAgentRef ?? target.namedAs ?? target.agentId;
  context.logger.warn(
    { event: 'access.denied', action, reason: decision.reason, tenantId: scope.tenantId, agent: agentRef ?? null, actor: describeActor(scope.actor) },
    `denied ${action}: ${decision.message}`,
  );
  if (!decision.visible && agentRef !== undefined) throw agentNotFound(agentRef);
  if (!decision.visible) throw new DataMachineError('tenant.not_found', `There is no tenant "${scope.tenantId}".`, { details: { tenantId: scope.tenantId } });
  throw new DataMachineError('access.denied', `Not permitted: ${decision.message}`, { details: { action, reason: decision.reason } });
}

/** The error for an agent that does not exist or may not be seen; the two are indistinguishable. */
export function agentNotFound(agentRef: string): DataMachineError {
  return new DataMachineError('agent.not_found', `There is no agent "${agentRef}".`, { details: { agent: agentRef } });
}

/** The agents the scope has a role on, by explicit grant or ownership (tenant-wide admins see all via {@link AccessFacts.tenantWideRole}). */
export function grantedAgentIds(scope: Scope, atLeast: AgentRole = 'viewer'): string[] {
  return [...scope.facts.agentRoles].filter(([, role]) => agentRoleAtLeast(role, atLeast)).map(([id]) => id);
}

function describeActor(actor: Actor): Readonly<Record<string, unknown>> {
  switch (actor.kind) {
    case 'token':
      return { kind: actor.kind, userId: actor.userId, tokenId: actor.tokenId, channel: actor.channel };
    case 'system':
      return { kind: actor.kind, channel: actor.channel, reason: actor.reason };
    default:
      return { kind: actor.kind, userId: actor.userId, channel: actor.channel };
  }
}
