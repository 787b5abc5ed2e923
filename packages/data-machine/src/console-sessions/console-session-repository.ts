import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Actor, ActorChannel } from '../access/actor';
import type { DataMachineContext } from '../context';
import type { ConsoleSessionTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { inTransaction } from '../scope/tenant-transaction';
import { hashTokenSecret, sameHash } from '../tokens/token-secret';

/** Every console session secret (the cookie's value) starts with this. */
export const consoleSessionPrefix = 'dmcs_';

/** How long a console session lives: idle (since its last request) and at most (since sign-in). */
export interface ConsoleSessionPolicy {
  readonly idleMs: number;
  readonly absoluteMs: number;
}

/** Twelve hours idle, seven days at most. */
export const defaultConsoleSessionPolicy: ConsoleSessionPolicy = { idleMs: 12 * 3_600_000, absoluteMs: 7 * 86_400_000 };

// Recording every request's time would make every read a write; a minute's precision is enough for an idle limit of minutes.
const touchAfterMs = 60_000;

/** A console session as the server sees it: never its secret nor its CSRF token. */
export interface ConsoleSession {
  readonly id: string;
  readonly userId: string;
  readonly tenantId: string | null;
  readonly createdAt: Date;
  readonly lastSeenAt: Date;
  /** The absolute expiry; the idle one is `lastSeenAt` plus the policy's `idleMs`. */
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
}

/** A new session: the cookie's secret and the CSRF token are returned once; only their hashes are stored. */
export interface NewConsoleSession {
  readonly session: ConsoleSession;
  readonly secret: string;
  readonly csrfToken: string;
}

/** An authenticated console session: who it acts as, and its CSRF token's hash to check mutating requests against. */
export interface ConsoleSessionAuthentication {
  readonly actor: Extract<Actor, { kind: 'user' }>;
  readonly session: ConsoleSession;
  /** Whether `presented` is this session's CSRF token (compared in constant time). */
  csrfMatches(presented: string): boolean;
}

/**
 * Starts a console session for a signed-in user (a redeemed login link or a
 * personal access token). Only a user has one: any other actor is `access.denied`.
 */
export async function createConsoleSession(
  context: DataMachineContext,
  actor: Actor,
  options: { readonly tenantId?: string | null; readonly policy?: ConsoleSessionPolicy } = {},
): Promise<NewConsoleSession> {
  if (actor.kind !== 'user') {
    context.logger.warn({ event: 'access.denied', action: 'console_session.create', reason: 'not_a_user', actorKind: actor.kind }, 'denied a console session to a non-user');
    throw new DataMachineError('access.denied', 'Not permitted: only a user signs in to the console (an agent token cannot).', { details: { reason: 'not_a_user' } });
  }
  const policy = options.policy ?? defaultConsoleSessionPolicy;
  const now = context.now();
  const secret = consoleSessionPrefix + randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(32).toString('base64url');
  const row = await inTransaction(context, { userId: actor.userId }, (trx) =>
    trx
      .insertInto('dm_console_sessions')
      .values({
        id: context.newId('cs'),
        secret_hash: hashTokenSecret(secret),
        user_id: actor.userId,
        tenant_id: options.tenantId ?? null,
        csrf_hash: hashTokenSecret(csrfToken),
        created_at: now,
        last_seen_at: now,
        expires_at: new Date(now.getTime() + policy.absoluteMs),
        revoked_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow(),
  );
  return { session: toConsoleSession(row), secret, csrfToken };
}

/**
 * Authenticates a console session's secret: unknown is
 * `console_session.invalid`, signed out `console_session.revoked`, idle for
 * longer than `policy.idleMs` or older than its absolute expiry
 * `console_session.expired`. Records the request's time (at most once a minute).
 */
export async function authenticateConsoleSession(
  context: DataMachineContext,
  secret: string,
  channel: ActorChannel,
  policy: ConsoleSessionPolicy = defaultConsoleSessionPolicy,
): Promise<ConsoleSessionAuthentication> {
  const hash = hashTokenSecret(secret);
  const now = context.now();
  const row = await inTransaction(context, {}, (trx) => trx.selectFrom('dm_console_sessions').selectAll().where('secret_hash', '=', hash).executeTakeFirst());
  if (!row || !sameHash(row.secret_hash, hash)) throw new DataMachineError('console_session.invalid', 'The console session is not valid; sign in again.');
  if (row.revoked_at !== null) throw new DataMachineError('console_session.revoked', 'You signed out of this console session; sign in again.', { details: { sessionId: row.id } });
  const idleUntil = row.last_seen_at.getTime() + policy.idleMs;
  if (row.expires_at.getTime() <= now.getTime() || idleUntil <= now.getTime()) {
    throw new DataMachineError('console_session.expired', 'The console session has expired; sign in again.', { details: { sessionId: row.id } });
  }
  let seen = row;
  if (now.getTime() - row.last_seen_at.getTime() >= touchAfterMs) {
    seen = { ...row, last_seen_at: now };
    await inTransaction(context, { userId: row.user_id }, (trx) => trx.updateTable('dm_console_sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute());
  }
  return {
    actor: { kind: 'user', userId: row.user_id, channel },
    session: toConsoleSession(seen),
    csrfMatches: (presented) => presented !== '' && sameHash(row.csrf_hash, hashTokenSecret(presented)),
  };
}

/** Signs a session out: its secret stops authenticating. Unknown or already revoked secrets change nothing. */
export async function revokeConsoleSession(context: DataMachineContext, secret: string): Promise<void> {
  const now = context.now();
  await inTransaction(context, {}, (trx) =>
    trx.updateTable('dm_console_sessions').set({ revoked_at: now }).where('secret_hash', '=', hashTokenSecret(secret)).where('revoked_at', 'is', null).execute(),
  );
}

function toConsoleSession(row: Selectable<ConsoleSessionTable>): ConsoleSession {
  return {
    id: row.id,
    userId: row.user_id,
    tenantId: row.tenant_id,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}
