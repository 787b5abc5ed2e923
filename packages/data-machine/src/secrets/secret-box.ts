import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { DataMachineError } from '../errors';

/**
 * Seals short secrets (a webhook's signing secret, a handler credential) for
 * storage with AES-256-GCM under a key derived from the server's
 * `SECRET_KEY`. `associated` binds a sealed value to where it is kept (a
 * flow id): the same ciphertext moved to another row does not open.
 */
export interface SecretBox {
  seal(plaintext: string, associated: string): string;
  /** The plaintext, or `secret.unreadable` when the value was sealed under another key or for another place, or was altered. */
  open(sealed: string, associated: string): string;
}

// v1.<iv>.<tag>.<ciphertext>, each base64url: the version names the scheme,
// so a later key rotation or algorithm can tell its values from these.
const version = 'v1';

/**
 * A {@link SecretBox} over `secretKey` (at least 32 characters). The AES key
 * is HKDF-SHA256 of the server key with a fixed purpose label, so the server
 * key itself never encrypts anything and other uses of it (signing links)
 * get unrelated keys.
 *
 * @example
 * const box = createSecretBox(process.env.SECRET_KEY);
 * const sealed = box.seal('whsec_...', flowId);
 */
export function createSecretBox(secretKey: string): SecretBox {
  if (secretKey.length < 32) throw new DataMachineError('input.invalid', 'The secret key must be at least 32 characters.');
  const key = Buffer.from(hkdfSync('sha256', Buffer.from(secretKey, 'utf8'), Buffer.alloc(0), Buffer.from('data-machine secret box v1', 'utf8'), 32));
  return {
    seal(plaintext, associated) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(associated, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [version, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
    },
    open(sealed, associated) {
      const [tag, iv, authTag, ciphertext] = sealed.split('.');
      if (tag !== version || iv === undefined || authTag === undefined || ciphertext === undefined) throw unreadable();
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(associated, 'utf8'));
        decipher.setAuthTag(Buffer.from(authTag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch (error) {
        throw unreadable(error);
      }
    },
  };
}

function unreadable(cause?: unknown): DataMachineError {
  return new DataMachineError('secret.unreadable', 'A stored secret could not be opened with this server key.', cause === undefined ? {} : { cause });
}
