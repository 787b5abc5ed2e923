import { z } from 'zod';
import type { Selectable } from 'kysely';
import { actingUserId, type Actor, type ActorChannel } from '../access/actor';
import { tenantCapabilitySchema, type TenantCapability } from '../access/roles';
import type { DataMachineContext } from '../context';
import type { AgentTokenTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { nameSchema, parseInput } from '../input';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import { inTenant, inTransaction } from '../scope/tenant-transaction';
import { assertUsableToken, hashTokenSecret, lastUseIsStale, newTokenSecret, visiblePrefix } from './token-secret';

/** An agent token as lists show it: never its secret. */
export interface AgentToken {
  readonly id: string;
  readonly tenantId: string;
  readonly agentId: string;
  /** The user the token acts as; it never has more rights than they do. */
  readonly userId: string;
  readonly prefix: string;
  readonly label: string;
  readonly ceiling: readonly TenantCapability[];
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
  readonly createdAt: Date;
}

/** What {@link createAgentToken} takes. */
export const newAgentTokenSchema = z
  .object({
    label: nameSchema,
    /** The capabilities the token may use; it can only narrow its owner's rights. */
    ceiling: z.array(tenantCapabilitySchema).min(1).max(16),
    expiresAt: z.date().nullable().default(null),
  })
  .strict();

/**
 * Creates a token that acts as the acting user on one agent (`token.create`,
 * so an agent admin), narrowed to `ceiling`. The secret is returned once and
 * only its SHA-256 is stored.
 */
export async function createAgentToken(
  context: DataMachineContext,
  scope: Scope,
  agentRef: string,
  input: z.input<typeof newAgentTokenSchema>,
): Promise<{ token: AgentToken; secret: string }> {
  const fields = parseInput(newAgentTokenSchema, input, 'agent token');
  const userId = actingUserId(scope.actor);
  if (userId === null) {
    throw new DataMachineError('input.invalid', 'A token acts as a user: the system principal cannot own one.', { details: { issues: [{ path: '', message: 'no acting user' }] } });
  }
  const now = context.now();
  if (fields.expiresAt !== null && fields.expiresAt.getTime() <= now.getTime()) {
    throw new DataMachineError('input.invalid', 'A token must expire in the future.', { details: { issues: [{ path: 'expiresAt', message: 'in the past' }] } });
  }
  const secret = newTokenSecret();
  return agentOperation(context, scope, 'token.create', agentRef, async (trx, agent) => {
    const row = await trx
      .insertInto('dm_agent_tokens')
      .values({
        id: context.newId('tok'),
        tenant_id: scope.tenantId,
        agent_id: agent.id,
        user_id: userId,
        secret_hash: hashTokenSecret(secret),
        prefix: visiblePrefix(secret),
        label: fields.label,
        ceiling: JSON.stringify([...new Set(fields.ceiling)]),
        expires_at: fields.expiresAt,
        last_used_at: null,
        revoked_at: null,
        created_by: userId,
        created_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { token: toToken(row), secret };
  });
}

/** The tokens of an agent (`token.create`). */
export async function listAgentTokens(context: DataMachineContext, scope: Scope, agentRef: string): Promise<readonly AgentToken[]> {
  return agentOperation(context, scope, 'token.create', agentRef, async (trx, agent) => {
    const rows = await trx.selectFrom('dm_agent_tokens').selectAll().where('agent_id', '=', agent.id).orderBy('created_at').orderBy('id').execute();
    return rows.map(toToken);
  });
}

/** Revokes a token of the agent (`token.create`); revoking twice keeps the first time. */
export async function revokeAgentToken(context: DataMachineContext, scope: Scope, agentRef: string, tokenId: string): Promise<AgentToken> {
  return agentOperation(context, scope, 'token.create', agentRef, async (trx, agent) => {
    const row = await trx
      .updateTable('dm_agent_tokens')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(context.now())) }))
      .where('id', '=', tokenId)
      .where('agent_id', '=', agent.id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new DataMachineError('token.invalid', `There is no token "${tokenId}" on this agent.`, { details: { tokenId } });
    return toToken(row);
  });
}

/** Who a presented token is. */
export interface TokenAuthentication {
  readonly tenantId: string;
  readonly actor: Extract<Actor, { kind: 'token' }>;
}

/**
 * Authenticates a presented secret: finds the token by its hash (compared
 * again in constant time), refuses a revoked (`token.revoked`) or expired
 * (`token.expired`) one, and records its use (at most once a minute). An unknown secret, or one whose
 * agent was deleted, is `token.invalid`. The rights are decided later, on
 * every check, against the owner's current rights.
 */
export async function authenticateAgentToken(context: DataMachineContext, secret: string, channel: ActorChannel): Promise<TokenAuthentication> {
  const tokenHash = hashTokenSecret(secret);
  const row = await inTransaction(context, { tokenHash }, (trx) => trx.selectFrom('dm_agent_tokens').selectAll().where('secret_hash', '=', tokenHash).executeTakeFirst());
  const now = context.now();
  assertUsableToken(row, tokenHash, now);
  if (lastUseIsStale(row.last_used_at, now)) {
    await inTenant(context, row.tenant_id, row.user_id, (trx) => trx.updateTable('dm_agent_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute());
  }
  return agentTokenAuthentication(row, channel);
}

/** Who an agent token row (found by its hash and usable) is: its tenant and its actor. */
export function agentTokenAuthentication(row: Selectable<AgentTokenTable>, channel: ActorChannel): TokenAuthentication {
  const token = toToken(row);
  return {
    tenantId: token.tenantId,
    actor: { kind: 'token', userId: token.userId, tokenId: token.id, agentId: token.agentId, ceiling: token.ceiling, expiresAt: token.expiresAt, revokedAt: token.revokedAt, channel },
  };
}

function toToken(row: Selectable<AgentTokenTable>): AgentToken {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    userId: row.user_id,
    prefix: row.prefix,
    label: row.label,
    ceiling: z.array(tenantCapabilitySchema).parse(row.ceiling),
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
  };
}
