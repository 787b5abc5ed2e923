import type { DatabaseSuiteContext } from '@data-machine/testkit';
import {
  actionRules,
  actions,
  addMember,
  cancelJob,
  createAgent,
  createAgentToken,
  createFlow,
  createJob,
  createPipeline,
  createTenant,
  createUser,
  createUserToken,
  decide,
  grantAgentRole,
  resolveScope,
  revokeAgentToken,
  updateTenantSettings,
  type AccessFacts,
  type Action,
  type Actor,
  type AgentRole,
  type DataMachineContext,
  type DataMachineDatabase,
  type Decision,
  type HandlerRegistry,
  type Scope,
  type TenantCapability,
  type TenantRole,
} from 'data-machine';
import { asEngine, digestPipeline } from './http-world';

// The principals of the authorization matrix
// (packages/data-machine/src/access/authorization-matrix.test.ts), made real:
// users with tenant roles and agent grants, and agent tokens, in one tenant
// with one target agent. What each may do is computed with the product's own
// `decide` from the facts each principal is built with, so a rule change
// changes what the HTTP and CLI replays expect.

const system: Actor = { kind: 'system', channel: 'cli', reason: 'authorization replay setup' };

/** A user of the replay, by what they are. */
export type ReplayUser = 'owner' | 'admin' | 'agentAdmin' | 'operator' | 'viewer' | 'subscriberViewer' | 'member' | 'otherAdmin' | 'stranger';

/** A user's role in the tenant (or in another tenant only, or none) and on the target agent. */
interface UserSpec {
  readonly tenantRole?: TenantRole;
  readonly otherTenantRole?: TenantRole;
  readonly agentRole?: AgentRole;
}

const userSpecs: Readonly<Record<ReplayUser, UserSpec>> = {
  owner: { tenantRole: 'owner' },
  admin: { tenantRole: 'admin' },
  agentAdmin: { tenantRole: 'editor', agentRole: 'admin' },
  operator: { tenantRole: 'editor', agentRole: 'operator' },
  viewer: { tenantRole: 'editor', agentRole: 'viewer' },
  subscriberViewer: { tenantRole: 'subscriber', agentRole: 'viewer' },
  member: { tenantRole: 'editor' },
  otherAdmin: { otherTenantRole: 'admin' },
  stranger: {},
};

const everyTokenCapability = ['chat', 'use_tools', 'manage_agents', 'manage_flows', 'view_logs'] as const satisfies readonly TenantCapability[];

/** An agent token of the replay: whose, its ceiling, and whether it is expired, revoked or for another agent. */
export interface ReplayToken {
  readonly owner: ReplayUser;
  readonly ceiling: readonly TenantCapability[];
  readonly state?: 'expired' | 'revoked';
  readonly otherAgent?: boolean;
}

/** A principal of the replay: a user (by personal token over HTTP, `--as <email>` on the CLI), an agent token, or the system. */
export type ReplayPrincipal =
  | { readonly name: string; readonly kind: 'user'; readonly user: ReplayUser }
  | { readonly name: string; readonly kind: 'token'; readonly token: ReplayToken }
  | { readonly name: string; readonly kind: 'system' };

/** The matrix's principals that a request can be made as (scheduled work is the worker's, not a caller's). */
export const replayPrincipals: readonly ReplayPrincipal[] = [
  { name: 'tenant owner', kind: 'user', user: 'owner' },
  { name: 'tenant admin', kind: 'user', user: 'admin' },
  { name: 'agent admin (editor)', kind: 'user', user: 'agentAdmin' },
  { name: 'operator (editor)', kind: 'user', user: 'operator' },
  { name: 'viewer (editor)', kind: 'user', user: 'viewer' },
  { name: 'viewer (subscriber)', kind: 'user', user: 'subscriberViewer' },
  { name: 'member without grant (editor)', kind: 'user', user: 'member' },
  { name: "other tenant's admin", kind: 'user', user: 'otherAdmin' },
  { name: 'non-member', kind: 'user', user: 'stranger' },
  { name: 'token, full ceiling', kind: 'token', token: { owner: 'agentAdmin', ceiling: everyTokenCapability } },
  { name: 'token, chat only', kind: 'token', token: { owner: 'agentAdmin', ceiling: ['chat'] } },
  { name: 'token of a viewer, full ceiling', kind: 'token', token: { owner: 'viewer', ceiling: everyTokenCapability } },
  { name: 'token, expired', kind: 'token', token: { owner: 'agentAdmin', ceiling: everyTokenCapability, state: 'expired' } },
  { name: 'token, revoked', kind: 'token', token: { owner: 'agentAdmin', ceiling: everyTokenCapability, state: 'revoked' } },
  { name: 'token for another agent', kind: 'token', token: { owner: 'agentAdmin', ceiling: everyTokenCapability, otherAgent: true } },
  { name: 'system', kind: 'system' },
];

const symbolicTenant = 't1';
const symbolicAgent = 'a1';

/** The facts `decide` sees for a user of the replay, built from its spec as the product loads them. */
function factsOf(user: ReplayUser): AccessFacts {
  const spec = userSpecs[user];
  const membership = spec.tenantRole ?? spec.otherTenantRole ?? null;
  const wide = membership === 'owner' || membership === 'admin';
  return {
    tenantId: spec.otherTenantRole === undefined ? symbolicTenant : 't2',
    membership,
    agentRoles: new Map(spec.agentRole === undefined ? [] : [[symbolicAgent, spec.agentRole]]),
    tenantWideRole: wide ? 'admin' : null,
  };
}

const past = new Date('2020-01-01T00:00:00Z');
const future = new Date('2099-01-01T00:00:00Z');

/** The product's decision for `principal` doing `action` on the target agent (or its tenant, for tenant-level actions). */
export function decisionFor(principal: ReplayPrincipal, action: Action, now: Date): Decision {
  const target = 'agentRole' in actionRules[action] ? { tenantId: symbolicTenant, agentId: symbolicAgent } : { tenantId: symbolicTenant };
  if (principal.kind === 'system') return decide({ kind: 'system', channel: 'cli', reason: 'replay' }, factsOf('stranger'), action, target, now);
  if (principal.kind === 'user') return decide({ kind: 'user', userId: principal.user, channel: 'http' }, factsOf(principal.user), action, target, now);
  const { token } = principal;
  const actor: Actor = {
    kind: 'token',
    userId: token.owner,
    tokenId: 'token',
    agentId: token.otherAgent === true ? 'a2' : symbolicAgent,
    ceiling: token.ceiling,
    expiresAt: token.state === 'expired' ? past : future,
    revokedAt: token.state === 'revoked' ? past : null,
    channel: 'http',
  };
  return decide(actor, factsOf(token.owner), action, target, now);
}

/**
 * What a caller sees of a decision: `allowed`; `hidden` (404, the caller may
 * not know the agent or tenant exists); `denied` (403 `access.denied`); or,
 * for a token that is expired or revoked, refused when it is authenticated
 * (401 `token.expired` / `token.revoked`), before any action is decided.
 */
export type ReplayOutcome = { readonly kind: 'allowed' } | { readonly kind: 'hidden' } | { readonly kind: 'denied' } | { readonly kind: 'unauthenticated'; readonly code: 'token.expired' | 'token.revoked' };

/** The outcome a caller must see for `decision`. */
export function outcomeOf(decision: Decision): ReplayOutcome {
  if (decision.allowed) return { kind: 'allowed' };
  if (decision.reason === 'token_expired') return { kind: 'unauthenticated', code: 'token.expired' };
  if (decision.reason === 'token_revoked') return { kind: 'unauthenticated', code: 'token.revoked' };
  return decision.visible ? { kind: 'denied' } : { kind: 'hidden' };
}

/** The actions none of `mappings` (route or command tables, lists of actions without one) names: a replay must have none. */
export function unaccountedActions(...mappings: readonly Readonly<Partial<Record<Action, unknown>>>[]): Action[] {
  return actions.filter((action) => !mappings.some((mapping) => action in mapping));
}

/** A user of the replay world. */
export interface ReplayUserRecord {
  readonly id: string;
  readonly email: string;
  /** A personal access token. */
  readonly token: string;
}

/** The replay's tenant, its users, its target agent (with pipeline `digest` and flow `daily`), and a bystander to grant and add. */
export interface ReplayWorld {
  readonly tenant: { readonly id: string; readonly slug: string };
  readonly users: Readonly<Record<ReplayUser, ReplayUserRecord>>;
  /** A plain member no principal is: the one grants, ownership and membership changes are about. */
  readonly bystander: ReplayUserRecord;
  readonly ownerScope: Scope;
  /** The slug of the agent every agent-level action is done to. */
  readonly agent: string;
  /** The flow of the target agent. */
  readonly flow: string;
  /** The slug of the agent the "token for another agent" is for. */
  readonly otherAgent: string;
}

/** Builds the replay world once per suite: every user, the target agent with its grants, pipeline and flow. */
export async function createReplayWorld(context: DataMachineContext, handlers: HandlerRegistry, slug: string): Promise<ReplayWorld> {
  const person = async (name: string): Promise<ReplayUserRecord> => {
    const user = await createUser(context, system, { email: `${slug}-${name}@example.test`, displayName: name });
    const { secret } = await createUserToken(context, system, { label: 'replay', forUserId: user.id });
    return { id: user.id, email: user.email, token: secret };
  };
  const names = Object.keys(userSpecs) as ReplayUser[];
  const users = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await person(name)] as const))) as Record<ReplayUser, ReplayUserRecord>;
  const bystander = await person('bystander');
  const otherOwner = await person('other-owner');
  const created = await createTenant(context, system, { slug, name: slug, ownerUserId: users.owner.id });
  const other = await createTenant(context, system, { slug: `${slug}-other`, name: `${slug} other`, ownerUserId: otherOwner.id });
  const ownerScope = await resolveScope(context, { kind: 'user', userId: users.owner.id, channel: 'cli' }, created.tenant.id);
  const otherScope = await resolveScope(context, { kind: 'user', userId: otherOwner.id, channel: 'cli' }, other.tenant.id);
  // Members may own as many agents as the replay creates.
  await updateTenantSettings(context, ownerScope, { agentLimitPerUser: 10_000 });
  for (const name of names) {
    const spec = userSpecs[name];
    if (spec.tenantRole !== undefined && spec.tenantRole !== 'owner') await addMember(context, ownerScope, { userId: users[name].id, role: spec.tenantRole });
    if (spec.otherTenantRole !== undefined) await addMember(context, otherScope, { userId: users[name].id, role: spec.otherTenantRole });
  }
  await addMember(context, ownerScope, { userId: bystander.id, role: 'subscriber' });
  const agent = 'target';
  const otherAgent = 'elsewhere';
  await createAgent(context, ownerScope, { slug: agent, name: 'Target' });
  await createAgent(context, ownerScope, { slug: otherAgent, name: 'Elsewhere' });
  await createPipeline(context, ownerScope, handlers, agent, digestPipeline);
  await createFlow(context, ownerScope, handlers, agent, { pipeline: 'digest', slug: 'daily', name: 'Daily' });
  const world: ReplayWorld = { tenant: { id: created.tenant.id, slug }, users, bystander, ownerScope, agent, flow: 'daily', otherAgent };
  await grantReplayRoles(context, world, agent);
  return world;
}

/** Gives every user of the replay its role on `agent` (the target, or a fresh agent standing in for it). */
export async function grantReplayRoles(context: DataMachineContext, world: ReplayWorld, agent: string): Promise<void> {
  for (const name of Object.keys(userSpecs) as ReplayUser[]) {
    const spec = userSpecs[name];
    if (spec.agentRole !== undefined) await grantAgentRole(context, world.ownerScope, agent, { userId: world.users[name].id, role: spec.agentRole });
  }
}

/**
 * Issues the agent token `token` describes for `agent` (or, for a token of
 * another agent, for the world's other agent), as its owner. An owner below
 * `admin` on the agent (the viewer) is raised for the moment of issuing it,
 * since only agent admins issue tokens; an expired token is issued live and
 * then dated back, since the product issues none already expired.
 */
export async function issueReplayToken(
  context: DataMachineContext,
  database: DatabaseSuiteContext<DataMachineDatabase>,
  world: ReplayWorld,
  token: ReplayToken,
  agent: string,
): Promise<string> {
  const owner = world.users[token.owner];
  const role = userSpecs[token.owner].agentRole;
  const forAgent = token.otherAgent === true ? world.otherAgent : agent;
  const ownerScope = await resolveScope(context, { kind: 'user', userId: owner.id, channel: 'cli' }, world.tenant.id);
  // On the other agent the owner is made its admin for good: the token's rights there do not matter, it is used on the target.
  const raise = token.otherAgent === true || role !== 'admin';
  if (raise) await grantAgentRole(context, world.ownerScope, forAgent, { userId: owner.id, role: 'admin' });
  const issued = await createAgentToken(context, ownerScope, forAgent, { label: 'replay', ceiling: [...token.ceiling] });
  if (raise && token.otherAgent !== true && role !== undefined) await grantAgentRole(context, world.ownerScope, forAgent, { userId: owner.id, role });
  if (token.state === 'revoked') await revokeAgentToken(context, world.ownerScope, forAgent, issued.token.id);
  if (token.state === 'expired') {
    await asEngine(database, world.tenant.id, (trx) => trx.updateTable('dm_agent_tokens').set({ expires_at: past }).where('id', '=', issued.token.id).execute());
  }
  return issued.secret;
}

/** A job of the target's flow that has ended (cancelled): what an undo needs. */
export async function endedJob(context: DataMachineContext, database: DatabaseSuiteContext<DataMachineDatabase>, world: ReplayWorld): Promise<string> {
  const flowId = await asEngine(database, world.tenant.id, async (trx) => {
    const flow = await trx.selectFrom('dm_flows').innerJoin('dm_agents', 'dm_agents.id', 'dm_flows.agent_id').select('dm_flows.id').where('dm_agents.slug', '=', world.agent).where('dm_flows.slug', '=', world.flow).executeTakeFirstOrThrow();
    return flow.id;
  });
  const jobId = await asEngine(database, world.tenant.id, async (trx) => (await createJob(context, trx, { flowId, source: 'manual', createdBy: world.users.owner.id })).job.id);
  await cancelJob(context, world.ownerScope, world.agent, jobId);
  return jobId;
}

/**
 * A pending action of the target agent, with its job waiting for the
 * decision: the rows the ai step and the engine write, inserted as they would be.
 */
export async function pendingAction(context: DataMachineContext, database: DatabaseSuiteContext<DataMachineDatabase>, world: ReplayWorld, id: string): Promise<string> {
  const now = new Date();
  await asEngine(database, world.tenant.id, async (trx) => {
    const flow = await trx
      .selectFrom('dm_flows')
      .innerJoin('dm_agents', 'dm_agents.id', 'dm_flows.agent_id')
      .select(['dm_flows.id', 'dm_agents.id as agentId'])
      .where('dm_agents.slug', '=', world.agent)
      .where('dm_flows.slug', '=', world.flow)
      .executeTakeFirstOrThrow();
    const { job } = await createJob(context, trx, { flowId: flow.id, source: 'manual', createdBy: world.users.owner.id });
    const waiting = { step: 'think', signal: `approval:${id}`, id: `wait-${id}` };
    await trx.updateTable('dm_jobs').set({ status: 'waiting', status_reason: 'signal', current_step: 'think', engine_data: JSON.stringify({ outputs: {}, waiting }) }).where('id', '=', job.id).execute();
    await trx
      .insertInto('dm_pending_actions')
      .values({
        id,
        tenant_id: world.tenant.id,
        agent_id: flow.agentId,
        job_id: job.id,
        step_key: 'think',
        tool_call_id: `call-${id}`,
        kind: 'publish',
        summary: 'Publish through step "store"',
        preview: JSON.stringify({ title: 'Hello' }),
        tool_name: 'publish_store',
        input: JSON.stringify({ title: 'Hello' }),
        triggered_by: world.users.owner.id,
        status: 'pending',
        expires_at: new Date(now.getTime() + 3_600_000),
        created_at: now,
        updated_at: now,
      })
      .execute();
  });
  return id;
}
