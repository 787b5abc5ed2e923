import type { Selectable } from 'kysely';
import { z } from 'zod';
import { actingUserId, type Actor, type ActorChannel } from '../access/actor';
import type { DataMachineContext } from '../context';
import { isForeignKeyViolation } from '../database/database-errors';
import type { UserTokenTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { nameSchema, parseInput } from '../input';
import { inTransaction } from '../scope/tenant-transaction';
import { assertUsableToken, hashTokenSecret, lastUseIsStale, newTokenSecret, userTokenPrefix, visiblePrefix } from './token-secret';

/** A personal access token as lists show it: never its secret. */
export interface UserToken {
  readonly id: string;
  readonly userId: string;
  readonly prefix: string;
  readonly label: string;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
  readonly createdAt: Date;
}

/** What {@link createUserToken} takes. */
export const newUserTokenSchema = z
  .object({
    label: nameSchema,
    expiresAt: z.date().nullable().default(null),
    /** Only the system names another user (the first start prints the owner's token). */
    forUserId: z.string().min(1).optional(),
  })
  .strict();

/**
 * Creates a personal access token for the acting user (or, for the system
 * principal only, for `forUserId`). It acts as its user with exactly the
 * user's rights, in every tenant they belong to. The secret is returned once;
 * only its SHA-256 is stored.
 */
export async function createUserToken(
  context: DataMachineContext,
  actor: Actor,
  input: z.input<typeof newUserTokenSchema>,
): Promise<{ token: UserToken; secret: string }> {
  const fields = parseInput(newUserTokenSchema, input, 'personal access token');
  const userId = tokenOwner(context, actor, fields.forUserId);
  const now = context.now();
  if (fields.expiresAt !== null && fields.expiresAt.getTime() <= now.getTime()) {
    throw new DataMachineError('input.invalid', 'A token must expire in the future.', { details: { issues: [{ path: 'expiresAt', message: 'in the past' }] } });
  }
  const secret = newTokenSecret(userTokenPrefix);
  try {
    const row = await inTransaction(context, { userId }, (trx) =>
      trx
        .insertInto('dm_user_tokens')
        .values({
          id: context.newId('upt'),
          user_id: userId,
          secret_hash: hashTokenSecret(secret),
          prefix: visiblePrefix(secret),
          label: fields.label,
          expires_at: fields.expiresAt,
          last_used_at: null,
          revoked_at: null,
          created_by: actingUserId(actor),
          created_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return { token: toUserToken(row), secret };
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new DataMachineError('user.not_found', `There is no user "${userId}".`, { details: { userId } });
    throw error;
  }
}

/** The acting user's own personal access tokens, oldest first. */
export async function listUserTokens(context: DataMachineContext, actor: Actor): Promise<readonly UserToken[]> {
  const userId = tokenOwner(context, actor, undefined);
  const rows = await inTransaction(context, { userId }, (trx) =>
    trx.selectFrom('dm_user_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute(),
  );
  return rows.map(toUserToken);
}

/** Revokes one of the acting user's tokens; revoking twice keeps the first time. Another user's token is `token.invalid`, like a missing one. */
export async function revokeUserToken(context: DataMachineContext, actor: Actor, tokenId: string): Promise<UserToken> {
  const userId = tokenOwner(context, actor, undefined);
  const row = await inTransaction(context, { userId }, (trx) =>
    trx
      .updateTable('dm_user_tokens')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(context.now())) }))
      .where('id', '=', tokenId)
      .where('user_id', '=', userId)
      .returningAll()
      .executeTakeFirst(),
  );
  if (!row) throw new DataMachineError('token.invalid', `You have no token "${tokenId}".`, { details: { tokenId } });
  return toUserToken(row);
}

/**
 * Authenticates a presented personal access token: found by its hash
 * (compared again in constant time); revoked is `token.revoked`, expired
 * `token.expired`, unknown `token.invalid`. Records its use (at most once a
 * minute: {@link lastUseIsStale}). The actor is the
 * user: rights are decided on every check from the user's memberships and grants.
 */
export async function authenticateUserToken(
  context: DataMachineContext,
  secret: string,
  channel: ActorChannel,
): Promise<{ readonly actor: Extract<Actor, { kind: 'user' }>; readonly tokenId: string }> {
  const tokenHash = hashTokenSecret(secret);
  const now = context.now();
  const row = await inTransaction(context, {}, async (trx) => {
    const found = await trx.selectFrom('dm_user_tokens').selectAll().where('secret_hash', '=', tokenHash).executeTakeFirst();
    if (found && found.revoked_at === null && (found.expires_at === null || found.expires_at.getTime() > now.getTime()) && lastUseIsStale(found.last_used_at, now)) {
      await trx.updateTable('dm_user_tokens').set({ last_used_at: now }).where('id', '=', found.id).execute();
    }
    return found;
  });
  assertUsableToken(row, tokenHash, now);
  return { actor: { kind: 'user', userId: row.user_id, channel }, tokenId: row.id };
}

function tokenOwner(context: DataMachineContext, actor: Actor, forUserId: string | undefined): string {
  if (forUserId !== undefined) {
    if (actor.kind === 'system') return forUserId;
    context.logger.warn({ event: 'access.denied', action: 'user_token.create_for', reason: 'system_only', actorKind: actor.kind }, 'denied creating a token for another user');
    throw new DataMachineError('access.denied', 'Not permitted: only the system principal may create a token for another user.', { details: { reason: 'system_only' } });
  }
  if (actor.kind !== 'user') {
    context.logger.warn({ event: 'access.denied', action: 'user_token', reason: 'not_a_user', actorKind: actor.kind }, 'denied personal access tokens to a non-user');
    throw new DataMachineError('access.denied', 'Not permitted: personal access tokens belong to a signed-in user.', { details: { reason: 'not_a_user' } });
  }
  return actor.userId;
}

function toUserToken(row: Selectable<UserTokenTable>): UserToken {
  return {
    id: row.id,
    userId: row.user_id,
    prefix: row.prefix,
    label: row.label,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
  };
}
