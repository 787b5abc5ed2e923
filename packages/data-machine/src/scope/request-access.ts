import { sql } from 'kysely';
import { z } from 'zod';
import type { Action } from '../access/actions';
import type { ActorChannel } from '../access/actor';
import { tenantRoleSchema, type TenantRole } from '../access/roles';
import { agentConfigSchema } from '../agents/agent-config';
import { toAgent, type Agent } from '../agents/agent-repository';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { agentTokenAuthentication } from '../tokens/agent-token-repository';
import type { BearerAuthentication } from '../tokens/authenticate-bearer';
import { agentTokenPrefix, assertUsableToken, hashTokenSecret, lastUseIsStale, userTokenPrefix } from '../tokens/token-secret';
import type { BearerAccessKey } from './bearer-access-cache';
import { agentNotFound, enforce, factsFrom, type FactsRow, type Scope } from './scope';
import type { AgentRow } from './scoped-operation';
import { inTransaction } from './tenant-transaction';

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
 * reads it: in one statement and no transaction (`dm_bearer_access`,
 * migration 0019), where the separate steps (`authenticateBearer`,
 * `listMyTenants`, `resolveScope`, `resolveAgentPrincipal`, `getAgent`) take
 * a transaction each. The statement reads the rights in the tenant the
 * request most likely acts in; when the host chooses another, a second one
 * reads them there. The rules are the same: the token checks of
 * `authenticateBearer` (`token.invalid`, `token.revoked`, `token.expired`,
 * thrown), the host's tenant choice, and {@link enforce} on the facts read
 * for this request. It writes nothing but a stale `last_used_at`, so it takes
 * no row locks: a later operation reads its rights again in its own
 * transaction. See docs/decisions/2026-12-01-request-path-speed.md. With the
 * context's `accessCache`, the statement's rows may come from the cache, which
 * the database's change feed empties; the checks and the decision run on them
 * for every request all the same (docs/decisions/2026-12-01-access-cache.md).
 */
export async function resolveBearerAccess(context: DataMachineContext, request: BearerAccessRequest): Promise<BearerAccess> {
  const { secret } = request;
  const isUserToken = secret.startsWith(userTokenPrefix);
  if (!isUserToken && !secret.startsWith(agentTokenPrefix)) throw new DataMachineError('token.invalid', 'The token is not valid.');
  const tokenHash = hashTokenSecret(secret);
  const now = context.now();
  const read = (tenantId: string | null) => cachedBearerAccess(context, { role: context.appRole, tokenHash, isUserToken, tenantRef: request.tenantRef ?? null, tenantId, agentRef: request.agent?.ref ?? null });
  const access = await read(null);
  const recordedUse = context.accessCache?.recordedUse(tokenHash);
  const found = tokenFound(access.token, tokenHash, request.tenantRef ?? null, request.channel, now, recordedUse);
  const { identity } = found.candidates;
  await recordUse(context, found, tokenHash, now);
  let tenantId: string;
  try {
    tenantId = request.chooseTenant(found.candidates);
  } catch (error) {
    const refused = { ok: false, error } as const;
    return { identity, scope: refused, ...(request.agent === undefined ? {} : { agent: refused }) };
  }
  // The statement read the rights in the tenant it expected; only another choice needs its own.
  const inTenant = tenantId === found.expectedTenantId ? access : await read(tenantId);
  const scope: Scope = Object.freeze({ tenantId, actor: identity.actor, facts: factsFrom(tenantId, inTenant.facts) });
  if (request.agent === undefined) return { identity, scope: { ok: true, value: scope } };
  return { identity, scope: { ok: true, value: scope }, agent: decideAgent(context, scope, request.agent, inTenant.agent) };
}

/** A row of `dm_bearer_access`: the token, the facts' rows (as `factsRows` reads them) and the agent asked for, as JSON with its template's configuration. */
type AccessRow = FactsRow | DataRow;
type DataRow = { readonly kind: 'token' | 'agent'; readonly agent_id: string | null; readonly role: null; readonly data: unknown };

/**
 * What one `dm_bearer_access` statement answered, parsed and checked by its
 * schemas once, when read: the cache keeps this, so a hit parses nothing.
 * Deep-frozen, because the cache hands the same value to every request that
 * hits it; nothing built from it for a request shares a mutable part with it
 * (dates are copied, facts are built afresh: see {@link tokenFound},
 * {@link decideAgent}).
 */
interface AccessRead {
  /** The token found by its hash, by the schema of its kind (the key's `isUserToken`); absent for an unknown secret. */
  readonly token: StoredUserToken | StoredAgentToken | undefined;
  /** The facts' rows, for {@link factsFrom}. */
  readonly facts: readonly FactsRow[];
  /** The agent asked for, as the product shows it, when the tenant has it and the actor may see its row. */
  readonly agent: Agent | undefined;
}

/** The JSON of the row of `kind`, if there is one. */
function dataOf(rows: readonly AccessRow[], kind: DataRow['kind']): unknown {
  return rows.find((row): row is DataRow => row.kind === kind)?.data;
}

/**
 * The parsed answer of {@link readBearerAccess}, through the context's cache
 * when it has one (docs/decisions/2026-12-01-access-cache.md). Only a found
 * token's answer is kept: an unknown secret always reads the database, so a
 * flood of bad tokens neither grows the cache nor evicts good entries.
 */
function cachedBearerAccess(context: DataMachineContext, key: BearerAccessKey): Promise<AccessRead> {
  const load = async () => parseAccess(await readBearerAccess(context, key), key.isUserToken);
  return context.accessCache === undefined ? load() : context.accessCache.read(key, load, (read) => read.token !== undefined);
}

/** One statement: the token, what the tenant is chosen from, and the rights (and agent) in the tenant (`tenantId` null: the one the request most likely acts in, the named or first membership, or the agent token's tenant). */
async function readBearerAccess(context: DataMachineContext, read: BearerAccessKey): Promise<readonly AccessRow[]> {
  const { rows } = await sql<AccessRow>`select kind, agent_id, role, data from dm_bearer_access(${read.role}, ${read.tokenHash}, ${read.isUserToken}, ${read.tenantRef}, ${read.tenantId}, ${read.agentRef})`.execute(context.db);
  return rows;
}

/** The statement's rows through their schemas, frozen (see {@link AccessRead}). */
function parseAccess(rows: readonly AccessRow[], isUserToken: boolean): AccessRead {
  const token = dataOf(rows, 'token');
  const agent = dataOf(rows, 'agent');
  return deepFreeze({
    token: token === undefined ? undefined : isUserToken ? { kind: 'user' as const, ...userTokenRowSchema.parse(token) } : { kind: 'agent' as const, ...agentTokenRowSchema.parse(token) },
    facts: rows.filter((row): row is FactsRow => row.kind !== 'token' && row.kind !== 'agent').map(({ kind, agent_id, role }) => ({ kind, agent_id, role })),
    agent: agent === undefined ? undefined : agentFrom(agentJsonSchema.parse(agent)),
  });
}

/**
 * Freezes `value` and everything it holds. Only for what {@link parseAccess}
 * builds: plain objects and arrays zod created, strings, numbers, booleans,
 * null and dates (whose own state a freeze cannot protect: they are copied
 * wherever one is handed out).
 */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}

/** A token found by its hash: who it is, what the tenant is chosen from, the tenant its rights were read in, and its use to record. */
interface FoundToken {
  readonly candidates: BearerTenantCandidates;
  readonly expectedTenantId: string;
  /** The token's table and id, when its recorded use is stale. */
  readonly staleUse: { readonly table: 'dm_user_tokens' | 'dm_agent_tokens'; readonly id: string; readonly tenantId: string | null } | null;
}

const timestampSchema = z.coerce.date();
const storedTokenFields = {
  id: z.string(),
  user_id: z.string(),
  secret_hash: z.string(),
  revoked_at: timestampSchema.nullable(),
  expires_at: timestampSchema.nullable(),
  last_used_at: timestampSchema.nullable(),
  expected_tenant: z.string(),
};

const userTokenRowSchema = z.object({
  ...storedTokenFields,
  memberships: z.array(z.object({ tenantId: z.string(), slug: z.string(), role: tenantRoleSchema })),
});
type StoredUserToken = { readonly kind: 'user' } & z.output<typeof userTokenRowSchema>;

const agentTokenRowSchema = z.object({
  ...storedTokenFields,
  tenant_id: z.string(),
  agent_id: z.string(),
  prefix: z.string(),
  label: z.string(),
  ceiling: z.array(z.string()),
  created_by: z.string().nullable(),
  created_at: timestampSchema,
  named_tenant: z.string().nullable(),
});
type StoredAgentToken = { readonly kind: 'agent' } & z.output<typeof agentTokenRowSchema>;

/** Checks the token against `now` ({@link assertUsableToken}: on every request, cached or not) and says who it is. */
function tokenFound(token: AccessRead['token'], tokenHash: string, tenantRef: string | null, channel: ActorChannel, now: Date, recordedUse: Date | undefined): FoundToken {
  assertUsableToken(token, tokenHash, now);
  return token.kind === 'user' ? userTokenFound(token, channel, now, recordedUse) : agentTokenFound(token, tenantRef, channel, now, recordedUse);
}

function userTokenFound(row: StoredUserToken, channel: ActorChannel, now: Date, recordedUse: Date | undefined): FoundToken {
  return {
    // The memberships are frozen with the cached read; their strings are all they hold.
    candidates: { identity: { kind: 'user', actor: { kind: 'user', userId: row.user_id, channel }, tokenId: row.id }, memberships: row.memberships, named: null },
    expectedTenantId: row.expected_tenant,
    staleUse: lastUseIsStale(latest(row.last_used_at, recordedUse), now) ? { table: 'dm_user_tokens', id: row.id, tenantId: null } : null,
  };
}

function agentTokenFound(row: StoredAgentToken, tenantRef: string | null, channel: ActorChannel, now: Date, recordedUse: Date | undefined): FoundToken {
  const { kind: _kind, named_tenant: namedTenant, expected_tenant: expectedTenant, ...tokenRow } = row;
  // The actor carries the token's dates out to the request's scope: copies, never the cached row's own.
  const { tenantId, actor } = agentTokenAuthentication({ ...tokenRow, revoked_at: copyDate(row.revoked_at), expires_at: copyDate(row.expires_at) }, channel);
  return {
    candidates: { identity: { kind: 'agent_token', actor, tenantId }, memberships: [], named: tenantRef === null ? null : { ref: tenantRef, tenantId: namedTenant } },
    expectedTenantId: expectedTenant,
    staleUse: lastUseIsStale(latest(row.last_used_at, recordedUse), now) ? { table: 'dm_agent_tokens', id: row.id, tenantId } : null,
  };
}

function copyDate(date: Date | null): Date | null {
  return date === null ? null : new Date(date.getTime());
}

/** The later of the stored `last_used_at` and the use this process recorded since (a cached row does not see its own process's write). */
function latest(stored: Date | null, recorded: Date | undefined): Date | null {
  return recorded !== undefined && (stored === null || recorded.getTime() > stored.getTime()) ? recorded : stored;
}

/**
 * Records the token's use when the recorded one is stale (at most once a
 * minute, see `lastUseIsStale`); an agent token's under its own tenant, which
 * its row policy requires of a write. The write notifies no change (migration
 * 0020 leaves `last_used_at` out), so the cache notes it instead.
 */
async function recordUse(context: DataMachineContext, found: FoundToken, tokenHash: string, now: Date): Promise<void> {
  const stale = found.staleUse;
  if (stale === null) return;
  await inTransaction(context, { tenantId: stale.tenantId }, (trx) => trx.updateTable(stale.table).set({ last_used_at: now }).where('id', '=', stale.id).execute());
  context.accessCache?.noteUse(tokenHash, now);
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

function agentFrom(parsed: z.output<typeof agentJsonSchema>): Agent {
  const { template_config: templateConfig, ...agentRow } = parsed;
  return toAgent(agentRow satisfies AgentRow, templateConfig);
}

/** Decides `action` on the agent read beside the facts, exactly as `agentOperation` does, and returns a copy of it (its dates its own; the rest frozen) or the refusal. */
function decideAgent(context: DataMachineContext, scope: Scope, asked: { readonly ref: string; readonly action: Action }, agent: Agent | undefined): AccessOutcome<Agent> {
  try {
    // A missing agent is logged and refused exactly as one that exists but is invisible.
    enforce(context, scope, scope, asked.action, agent ? { agentId: agent.id, namedAs: asked.ref } : { missingAgentRef: asked.ref });
    if (!agent) throw agentNotFound(asked.ref);
    return { ok: true, value: Object.freeze({ ...agent, createdAt: new Date(agent.createdAt.getTime()), updatedAt: new Date(agent.updatedAt.getTime()) }) };
  } catch (error) {
    return { ok: false, error };
  }
}
