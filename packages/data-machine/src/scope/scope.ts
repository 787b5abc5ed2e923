import type { Action } from '../access/actions';
import { actingUserId, type AccessFacts, type Actor } from '../access/actor';
import { decide, type Decision } from '../access/authorize';
import { agentRoleAtLeast, tenantAdminRoles, type AgentRole, type TenantRole } from '../access/roles';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { sql, type RawBuilder } from 'kysely';
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
 * later, by {@link authorize}. Fresh per request: rights revoked a moment ago are gone. Its transaction writes nothing, so it takes no
 * row locks (see {@link factsRows}).
 */
export async function resolveScope(context: DataMachineContext, actor: Actor, tenantId: string): Promise<Scope> {
  const userId = actingUserId(actor);
  const facts = await inTenant(context, tenantId, userId, (trx) => loadFacts(trx, tenantId, userId, { lock: false }));
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
 * revocation waits for the requests that already decided on the grant. One
 * statement ({@link factsRows}).
 */
export async function loadFacts(trx: TenantTransaction, tenantId: string, userId: string | null, { lock = true }: { readonly lock?: boolean } = {}): Promise<AccessFacts> {
  if (userId === null) return noFacts(tenantId);
  const { rows } = await sql<FactsRow>`${factsRows(tenantId, userId, { lock })}`.execute(trx);
  return factsFrom(tenantId, rows);
}

/** One row of {@link factsRows}: the membership's role, a grant, or an agent the user owns. */
export interface FactsRow {
  readonly kind: 'membership' | 'grant' | 'owned';
  readonly agent_id: string | null;
  readonly role: string | null;
}

/**
 * The query of a user's facts in a tenant as one statement of rows
 * ({@link FactsRow}), so a caller can add to it; `lock` reads the membership
 * and grants `for share` (see {@link loadFacts}). A transaction that writes
 * nothing needs no lock: it decides and ends.
 */
export function factsRows(tenantId: string, userId: string, { lock }: { readonly lock: boolean }): RawBuilder<FactsRow> {
  const share = lock ? sql` for share` : sql``;
  return sql<FactsRow>`with membership as (select role from dm_memberships where tenant_id = ${tenantId} and user_id = ${userId}${share}),
    grants as (select agent_id, role from dm_agent_grants where tenant_id = ${tenantId} and user_id = ${userId}${share})
    select 'membership' as kind, null::text as agent_id, role from membership
    union all select 'grant', agent_id, role from grants
    union all select 'owned', id, null from dm_agents where tenant_id = ${tenantId} and owner_user_id = ${userId}`;
}

/** The facts the rows of {@link factsRows} (or none, for a non-member) say; rows of other kinds are ignored. */
export function factsFrom(tenantId: string, rows: readonly (Omit<FactsRow, 'kind'> & { readonly kind: string })[]): AccessFacts {
  const role = (rows.find((row) => row.kind === 'membership')?.role ?? null) as TenantRole | null;
  if (role === null) return noFacts(tenantId);
  const agentRoles = new Map<string, AgentRole>();
  for (const row of rows) if (row.kind === 'grant' && row.agent_id !== null) agentRoles.set(row.agent_id, row.role as AgentRole);
  // The owner always holds admin, whatever a grant row says.
  for (const row of rows) if (row.kind === 'owned' && row.agent_id !== null) agentRoles.set(row.agent_id, 'admin');
  return { tenantId, membership: role, agentRoles, tenantWideRole: tenantAdminRoles.includes(role) ? 'admin' : null };
}

function noFacts(tenantId: string): AccessFacts {
  return { tenantId, membership: null, agentRoles: new Map(), tenantWideRole: null };
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
