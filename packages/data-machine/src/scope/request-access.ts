import { sql, type Selectable } from 'kysely';
import { z } from 'zod';
import type { Action } from '../access/actions';
import type { ActorChannel } from '../access/actor';
import type { TenantRole } from '../access/roles';
import { agentConfigSchema } from '../agents/agent-config';
import { toAgent, type Agent } from '../agents/agent-repository';
import type { DataMachineContext } from '../context';
import type { AgentTokenTable, UserTokenTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { agentTokenAuthentication } from '../tokens/agent-token-repository';
import type { BearerAuthentication } from '../tokens/authenticate-bearer';
import { agentTokenPrefix, assertUsableToken, hashTokenSecret, lastUseIsStale, userTokenPrefix } from '../tokens/token-secret';
import { agentNotFound, enforce, factsFrom, factsRows, type FactsRow, type Scope } from './scope';
import type { AgentRow } from './scoped-operation';
import { inBearerTransaction, narrowToTenant, type TenantTransaction } from './tenant-transaction';

/** A tenant a user belongs to, as a request chooses among them. */
export interface TenantMembershipRef {
  readonly tenantId: string;
  readonly slug: string;
  readonly role: TenantRole;
}

/** What a request's tenant is chosen from (see {@link BearerAccessRequest.chooseTenant}). */
export interface BearerTenantCandidates {
  readonly identity: BearerAuthentication;
  /** A user's tenants, by slug; empty for an agent token. */
  readonly memberships: readonly TenantMembershipRef[];
  /** For an agent token, the tenant the request named (`tenantRef`) as found: its id, or null when no tenant has that id or slug. */
  readonly named: { readonly ref: string; readonly tenantId: string | null } | null;
}

/** What {@link resolveBearerAccess} takes. */
export interface BearerAccessRequest {
  /** The presented bearer secret. */
  readonly secret: string;
  readonly channel: ActorChannel;
  /** The tenant the request names (id or slug), if any. */
  readonly tenantRef?: string | undefined;
  /** The host's rule for the request's tenant: returns its id, or throws the refusal (e.g. the tenant must be named). */
  readonly chooseTenant: (candidates: BearerTenantCandidates) => string;
  /** An agent (id or slug) to decide `action` on and read, in the same transaction. */
  readonly agent?: { readonly ref: string; readonly action: Action } | undefined;
}

/** A value, or the refusal that took its place. */
export type AccessOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** What {@link resolveBearerAccess} found. */
export interface BearerAccess {
  readonly identity: BearerAuthentication;
  /** The request's scope, or why there is none (a tenant not named, not found). */
  readonly scope: AccessOutcome<Scope>;
  /** The agent asked for, when `action` on it is allowed; its refusal otherwise (`agent.not_found`, `access.denied`, or the scope's). Absent when none was asked for. */
  readonly agent?: AccessOutcome<Agent>;
}

/**
 * Authenticates a bearer secret, chooses the request's tenant, loads the
 * actor's rights there and, when asked, decides `action` on an agent and
 * reads it: all in one transaction of a few statements (the key settings,
 * the token with the user's tenants, the facts with the agent), where the
 * separate steps (`authenticateBearer`, `listMyTenants`, `resolveScope`,
 * `resolveAgentPrincipal`, `getAgent`) take a transaction each. The rules are
 * the same: the token checks of `authenticateBearer` (`token.invalid`,
 * `token.revoked`, `token.expired`, thrown), the host's tenant choice, and
 * {@link enforce} on the facts read in this transaction. The transaction
 * writes nothing but a stale `last_used_at`, so it takes no row locks: a
 * later operation reads its rights again in its own transaction. See
 * docs/decisions/2026-12-01-request-path-speed.md.
 */
export async function resolveBearerAccess(context: DataMachineContext, request: BearerAccessRequest): Promise<BearerAccess> {
  const { secret } = request;
  const isUserToken = secret.startsWith(userTokenPrefix);
  if (!isUserToken && !secret.startsWith(agentTokenPrefix)) throw new DataMachineError('token.invalid', 'The token is not valid.');
  const tokenHash = hashTokenSecret(secret);
  const now = context.now();
  const tenantRef = request.tenantRef ?? null;
  return inBearerTransaction(context, tokenHash, async (trx) => {
    const found = isUserToken ? await findUserToken(trx, tokenHash, tenantRef, request.channel, now) : await findAgentToken(trx, tokenHash, tenantRef, request.channel, now);
    const { identity } = found.candidates;
    let tenantId: string;
    try {
      tenantId = request.chooseTenant(found.candidates);
    } catch (error) {
      await found.touch();
      const refused = { ok: false, error } as const;
      return { identity, scope: refused, ...(request.agent === undefined ? {} : { agent: refused }) };
    }
    const userId = identity.actor.userId;
    // The statement that read the token confined the transaction to the tenant it expected; only another choice needs its own.
    if (tenantId !== found.expectedTenantId) await narrowToTenant(trx, tenantId, userId);
    const [rows] = await Promise.all([readFacts(trx, tenantId, userId, request.agent?.ref), found.touch()]);
    const scope: Scope = Object.freeze({ tenantId, actor: identity.actor, facts: factsFrom(tenantId, rows) });
    if (request.agent === undefined) return { identity, scope: { ok: true, value: scope } };
    return { identity, scope: { ok: true, value: scope }, agent: decideAgent(context, scope, request.agent, rows) };
  });
}

/** A token found by its hash: who it is, what the tenant is chosen from, the tenant the statement confined the transaction to, and how to record its use. */
interface FoundToken {
  readonly candidates: BearerTenantCandidates;
  readonly expectedTenantId: string;
  /** Records the use when the recorded one is stale; nothing otherwise. */
  touch(): Promise<void>;
}

type UserTokenRow = Pick<Selectable<UserTokenTable>, 'id' | 'user_id' | 'secret_hash' | 'revoked_at' | 'expires_at' | 'last_used_at'> & {
  readonly memberships: readonly TenantMembershipRef[];
  readonly expected_tenant: string;
};

/**
 * The personal access token with this hash and its user's tenants, in one
 * statement that also confines the transaction to the tenant the request
 * most likely acts in (the named one, or the first), for the next statement.
 */
async function findUserToken(trx: TenantTransaction, tokenHash: string, tenantRef: string | null, channel: ActorChannel, now: Date): Promise<FoundToken> {
  const { rows } = await sql<UserTokenRow>`
    select t.id, t.user_id, t.secret_hash, t.revoked_at, t.expires_at, t.last_used_at,
      coalesce((select json_agg(json_build_object('tenantId', tn.id, 'slug', tn.slug, 'role', m.role) order by tn.slug)
        from dm_memberships m join dm_tenants tn on tn.id = m.tenant_id where m.user_id = t.user_id), '[]'::json) as memberships,
      set_config('dm.tenant_id', coalesce((select tn.id from dm_memberships m join dm_tenants tn on tn.id = m.tenant_id
        where m.user_id = t.user_id and (${tenantRef}::text is null or tn.id = ${tenantRef} or tn.slug = ${tenantRef}) order by tn.slug limit 1), ''), true) as expected_tenant
    from dm_user_tokens t where t.secret_hash = ${tokenHash}`.execute(trx);
  const row = rows[0];
  assertUsableToken(row, tokenHash, now);
  return {
    candidates: { identity: { kind: 'user', actor: { kind: 'user', userId: row.user_id, channel }, tokenId: row.id }, memberships: row.memberships, named: null },
    expectedTenantId: row.expected_tenant,
    touch: async () => {
      if (lastUseIsStale(row.last_used_at, now)) await trx.updateTable('dm_user_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    },
  };
}

type AgentTokenRow = Selectable<AgentTokenTable> & { readonly named_tenant: string | null; readonly expected_tenant: string };

/** The agent token with this hash and the tenant the request named, in one statement that confines the transaction to the token's tenant. */
async function findAgentToken(trx: TenantTransaction, tokenHash: string, tenantRef: string | null, channel: ActorChannel, now: Date): Promise<FoundToken> {
  const { rows } = await sql<AgentTokenRow>`
    select t.*, (select tn.id from dm_tenants tn where tn.id = ${tenantRef} or tn.slug = ${tenantRef} limit 1) as named_tenant,
      set_config('dm.tenant_id', t.tenant_id, true) as expected_tenant
    from dm_agent_tokens t where t.secret_hash = ${tokenHash}`.execute(trx);
  const row = rows[0];
  assertUsableToken(row, tokenHash, now);
  const { tenantId, actor } = agentTokenAuthentication(row, channel);
  return {
    candidates: { identity: { kind: 'agent_token', actor, tenantId }, memberships: [], named: tenantRef === null ? null : { ref: tenantRef, tenantId: row.named_tenant } },
    expectedTenantId: row.expected_tenant,
    touch: async () => {
      if (!lastUseIsStale(row.last_used_at, now)) return;
      // Under the token's own tenant, which its row policy requires of a write.
      if (tenantId !== row.expected_tenant) await narrowToTenant(trx, tenantId, actor.userId);
      await trx.updateTable('dm_agent_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    },
  };
}

/** A row of {@link readFacts}: the facts' rows ({@link factsRows}) and the agent asked for, as JSON with its template's configuration. */
type AccessRow = FactsRow | { readonly kind: 'agent'; readonly agent_id: string; readonly role: null; readonly data: unknown };

/** The user's facts in the tenant and, when asked, the agent with id or slug `agentRef`: one statement. */
async function readFacts(trx: TenantTransaction, tenantId: string, userId: string, agentRef: string | undefined): Promise<readonly AccessRow[]> {
  const agent =
    agentRef === undefined
      ? sql``
      : sql`union all select 'agent', a.id, null, to_jsonb(a) || jsonb_build_object('template_config', (select tpl.config from dm_agents tpl where tpl.id = a.template_agent_id))
          from dm_agents a where a.tenant_id = ${tenantId} and (a.id = ${agentRef} or a.slug = ${agentRef})`;
  const { rows } = await sql<AccessRow>`select kind, agent_id, role, null::jsonb as data from (${factsRows(tenantId, userId, { lock: false })}) facts ${agent}`.execute(trx);
  return rows;
}

const agentJsonSchema = z.object({
  id: z.string(),
  tenant_id: z.string(),
  slug: z.string(),
  name: z.string(),
  description: z.string(),
  owner_user_id: z.string().nullable(),
  template_agent_id: z.string().nullable(),
  is_default: z.boolean(),
  origin: z.enum(['product', 'registry']),
  config: z.record(z.string(), z.unknown()),
  created_by: z.string().nullable(),
  created_at: z.coerce.date(),
  updated_at: z.coerce.date(),
  template_config: agentConfigSchema.nullable(),
});

/** Decides `action` on the agent read beside the facts, exactly as `agentOperation` does, and returns it or the refusal. */
function decideAgent(context: DataMachineContext, scope: Scope, asked: { readonly ref: string; readonly action: Action }, rows: readonly AccessRow[]): AccessOutcome<Agent> {
  const found = rows.find((row) => row.kind === 'agent');
  const parsed = found === undefined ? undefined : agentJsonSchema.parse(found.data);
  try {
    // A missing agent is logged and refused exactly as one that exists but is invisible.
    enforce(context, scope, scope, asked.action, parsed ? { agentId: parsed.id, namedAs: asked.ref } : { missingAgentRef: asked.ref });
    if (!parsed) throw agentNotFound(asked.ref);
    const { template_config: templateConfig, ...agentRow } = parsed;
    return { ok: true, value: toAgent(agentRow satisfies AgentRow, templateConfig) };
  } catch (error) {
    return { ok: false, error };
  }
}
