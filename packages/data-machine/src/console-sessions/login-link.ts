import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Actor, ActorChannel } from '../access/actor';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { inTransaction } from '../scope/tenant-transaction';
import { findUserByEmail } from '../users/user-repository';

/** Every login link token starts with this, so a leaked one is recognisable. */
export const loginLinkPrefix = 'dmll_';

/** How long a login link is good for by default: 15 minutes. */
export const defaultLoginLinkLifetimeMs = 15 * 60_000;

const payloadSchema = z.strictObject({
  id: z.string().min(16).max(64),
  email: z.string().min(3).max(320),
  exp: z.number().int().positive(),
});

/** What {@link issueLoginLink} takes. */
export interface LoginLinkRequest {
  /** Who the link signs in: resolved when it is redeemed, so issuing needs no database. */
  readonly email: string;
  /** The server's secret key. */
  readonly secretKey: string;
  readonly now: Date;
  readonly lifetimeMs?: number;
}

/**
 * A one-time login link token: the user's email, a random id and an expiry,
 * signed with the secret key (HMAC-SHA256). Nothing is stored until it is
 * redeemed, so the CLI can print one beside a running embedded server.
 */
export function issueLoginLink({ email, secretKey, now, lifetimeMs = defaultLoginLinkLifetimeMs }: LoginLinkRequest): { readonly token: string; readonly expiresAt: Date } {
  const expiresAt = new Date(now.getTime() + lifetimeMs);
  const payload = Buffer.from(JSON.stringify({ id: randomBytes(16).toString('base64url'), email: email.trim().toLowerCase(), exp: expiresAt.getTime() }), 'utf8').toString('base64url');
  return { token: `${loginLinkPrefix}${payload}.${sign(secretKey, payload)}`, expiresAt };
}

/**
 * Redeems a login link once: a bad signature or shape, or an email with no
 * user, is `login_link.invalid`; past its expiry `login_link.expired`; a
 * second use `login_link.used` (the first use is recorded in the same
 * statement that checks it, so two racing redemptions make one session).
 * Resolves to the user the link signs in.
 */
export async function redeemLoginLink(
  context: DataMachineContext,
  token: string,
  secretKey: string,
  channel: ActorChannel,
): Promise<Extract<Actor, { kind: 'user' }>> {
  const payload = verifiedPayload(token, secretKey);
  const now = context.now();
  if (payload.exp <= now.getTime()) throw new DataMachineError('login_link.expired', 'The login link has expired; ask for a new one.');
  const user = await findUserByEmail(context, payload.email).catch(() => undefined);
  if (!user) throw invalid();
  const used = await inTransaction(context, {}, (trx) =>
    trx
      .insertInto('dm_login_link_uses')
      .values({ link_id: payload.id, user_id: user.id, used_at: now, expires_at: new Date(payload.exp) })
      .onConflict((conflict) => conflict.column('link_id').doNothing())
      .returning('link_id')
      .executeTakeFirst(),
  );
  if (!used) throw new DataMachineError('login_link.used', 'The login link was already used; ask for a new one.');
  return { kind: 'user', userId: user.id, channel };
}

function verifiedPayload(token: string, secretKey: string): z.infer<typeof payloadSchema> {
  if (!token.startsWith(loginLinkPrefix)) throw invalid();
  const [payload, signature, ...rest] = token.slice(loginLinkPrefix.length).split('.');
  if (payload === undefined || signature === undefined || rest.length > 0) throw invalid();
  const expected = Buffer.from(sign(secretKey, payload), 'utf8');
  const presented = Buffer.from(signature, 'utf8');
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = payloadSchema.safeParse(decoded);
  if (!parsed.success) throw invalid();
  return parsed.data;
}

// The purpose is part of what is signed, so no other signature made with the key passes as a login link.
function sign(secretKey: string, payload: string): string {
  return createHmac('sha256', secretKey).update(`data-machine login link\n${payload}`, 'utf8').digest('base64url');
}

function invalid(): DataMachineError {
  return new DataMachineError('login_link.invalid', 'The login link is not valid.');
}
