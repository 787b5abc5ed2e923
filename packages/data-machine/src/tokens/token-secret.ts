import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

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
