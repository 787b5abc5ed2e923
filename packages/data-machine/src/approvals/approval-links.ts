import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { DataMachineError } from '../errors';
import { approvalDecisionSchema, type ApprovalDecisionKind } from './pending-action';

/** What a signed approval link carries: the tenant and action, the decision it takes, its expiry, and a nonce. */
export interface ApprovalLinkClaims {
  readonly tenantId: string;
  readonly actionId: string;
  readonly decision: ApprovalDecisionKind;
  readonly expiresAt: Date;
  /** Recorded on the action when the link decides it. */
  readonly nonce: string;
}

const claimsSchema = z.strictObject({
  t: z.string().min(1).max(200),
  a: z.string().min(1).max(200),
  d: approvalDecisionSchema,
  x: z.int().min(0),
  n: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
});

const version = 'v1';

/**
 * A token for a link that takes one decision on one action until `expiresAt`:
 * `v1.<claims>.<HMAC-SHA256>`, base64url. The key is derived from the server
 * secret for this use only, so a link signature is never valid as a webhook
 * signature or the reverse.
 *
 * @example
 * const token = signApprovalLink(secret, { tenantId, actionId, decision: 'accept', expiresAt });
 */
export function signApprovalLink(secret: string | Uint8Array, claims: Omit<ApprovalLinkClaims, 'nonce'> & { readonly nonce?: string }): string {
  const body = { t: claims.tenantId, a: claims.actionId, d: claims.decision, x: Math.floor(claims.expiresAt.getTime() / 1000), n: claims.nonce ?? randomBytes(16).toString('base64url') };
  const encoded = `${version}.${Buffer.from(JSON.stringify(body)).toString('base64url')}`;
  return `${encoded}.${signature(secret, encoded).toString('base64url')}`;
}

/**
 * The claims of a link token signed with `secret`, if it is valid at `now`.
 * A token that is malformed, altered or signed with another key is
 * `approval.link_invalid` (no reason given); one past its expiry is
 * `approval.link_expired`. Single use is the action's: a link decides only
 * a `pending` action.
 */
export function verifyApprovalLink(secret: string | Uint8Array, token: string, now: Date): ApprovalLinkClaims {
  const parts = token.split('.');
  const [prefix, payload, mac] = parts;
  if (parts.length !== 3 || prefix !== version || payload === undefined || mac === undefined) throw invalidLink();
  const expected = signature(secret, `${prefix}.${payload}`);
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalidLink();
  const parsed = claimsSchema.safeParse(parseJson(Buffer.from(payload, 'base64url').toString('utf8')));
  if (!parsed.success) throw invalidLink();
  const claims = parsed.data;
  const expiresAt = new Date(claims.x * 1000);
  if (now.getTime() >= expiresAt.getTime()) {
    throw new DataMachineError('approval.link_expired', `This link expired at ${expiresAt.toISOString()}.`, { details: { expiresAt: expiresAt.toISOString() } });
  }
  return { tenantId: claims.t, actionId: claims.a, decision: claims.d, expiresAt, nonce: claims.n };
}

function signature(secret: string | Uint8Array, signed: string): Buffer {
  const key = createHmac('sha256', secret).update('data-machine approval links v1').digest();
  return createHmac('sha256', key).update(signed).digest();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function invalidLink(): DataMachineError {
  return new DataMachineError('approval.link_invalid', 'This approval link is not valid.');
}
