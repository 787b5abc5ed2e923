import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataMachineError } from '../errors';

/** Every agent token secret starts with this, so a leaked one is recognisable (and scannable). */
export const agentTokenPrefix = 'dmat_';
/** Every personal access token secret starts with this. */
export const userTokenPrefix = 'dmpt_';

/** A new secret: the prefix and 256 random bits, base64url. Shown once, never stored. */
export function newTokenSecret(prefix: typeof agentTokenPrefix | typeof userTokenPrefix = agentTokenPrefix): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** The SHA-256 of a secret, hex: what is stored and looked up. */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** The part of a secret shown in lists, enough to tell tokens apart and nothing more. */
export function visiblePrefix(secret: string): string {
  return secret.slice(0, agentTokenPrefix.length + 6);
}

/** Compares two hex hashes in constant time. */
export function sameHash(left: string, right: string): boolean {
  const a = Buffer.from(left, 'hex');
  const b = Buffer.from(right, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/** What authentication needs of a stored token row, agent or personal. */
interface StoredToken {
  readonly id: string;
  readonly secret_hash: string;
  readonly revoked_at: Date | null;
  readonly expires_at: Date | null;
}

/**
 * Refuses a token found (or not) by the hash of a presented secret: unknown
 * is `token.invalid`, revoked `token.revoked`, expired `token.expired`.
 * Narrows `row` to a usable token.
 */
export function assertUsableToken<T extends StoredToken>(row: T | undefined, presentedHash: string, now: Date): asserts row is T {
  if (!row || !sameHash(row.secret_hash, presentedHash)) throw new DataMachineError('token.invalid', 'The token is not valid.');
  if (row.revoked_at !== null && row.revoked_at.getTime() <= now.getTime()) throw new DataMachineError('token.revoked', 'The token was revoked.', { details: { tokenId: row.id } });
  if (row.expires_at !== null && row.expires_at.getTime() <= now.getTime()) throw new DataMachineError('token.expired', 'The token has expired.', { details: { tokenId: row.id } });
}

/**
 * How stale a token's `last_used_at` may be before a use records it again: a
 * use within a minute of the recorded one writes nothing, so an authenticated
 * read stays a read-only transaction. See docs/decisions/2026-12-01-request-path-speed.md.
 */
export const lastUsedResolutionMs = 60_000;

/** Whether a use at `now` should record itself over `lastUsedAt` (see {@link lastUsedResolutionMs}). */
export function lastUseIsStale(lastUsedAt: Date | null, now: Date): boolean {
  return lastUsedAt === null || now.getTime() - lastUsedAt.getTime() >= lastUsedResolutionMs || lastUsedAt.getTime() > now.getTime();
}
