import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { DataMachineError } from '../errors';

/**
 * Seals and opens small secrets (handler credentials) with AES-256-GCM. The
 * key is derived from the server's secret key with HKDF-SHA256 for one
 * purpose, so the same secret key can sign links and webhooks without one
 * use ever serving another. Each sealed value is bound to where it is kept
 * (`binding`: tenant, agent and name), so a value copied to another row
 * does not open.
 */
export interface SecretBox {
  /** `v1.<iv>.<tag>.<ciphertext>`, base64url parts. */
  seal(plaintext: string, binding: string): string;
  /** The plaintext, or `secret.unreadable` when the value was not sealed by this key for this binding. */
  open(sealed: string, binding: string): string;
}

/** The shortest secret key accepted: 32 characters (the server's own generated key is 43). */
export const minimumSecretKeyLength = 32;

/**
 * A box over `secretKey` for `purpose` (e.g. `handler-secrets`).
 *
 * @example
 * const box = createSecretBox(config.secretKey, 'handler-secrets');
 * const sealed = box.seal('app password', `${tenantId}/${agentId}/wordpress`);
 */
export function createSecretBox(secretKey: string, purpose: string): SecretBox {
  if (secretKey.length < minimumSecretKeyLength) {
    throw new DataMachineError('input.invalid', `A secret key has at least ${minimumSecretKeyLength} characters.`, { details: { field: 'secretKey' } });
  }
  const key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), `data-machine:${purpose}:v1`, 32));
  return {
    seal(plaintext, binding) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(binding, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
    },
    open(sealed, binding) {
      const [version, iv, tag, ciphertext] = sealed.split('.');
      if (version !== 'v1' || iv === undefined || tag === undefined || ciphertext === undefined) throw unreadable();
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(binding, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch (error) {
        throw unreadable(error);
      }
    },
  };
}

function unreadable(cause?: unknown): DataMachineError {
  return new DataMachineError('secret.unreadable', 'A stored secret cannot be opened with the server\'s secret key (was the key changed?); set it again.', cause === undefined ? {} : { cause });
}
