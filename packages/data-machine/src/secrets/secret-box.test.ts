import { describe, expect, it } from 'vitest';
import { DataMachineError } from '../errors';
import { createSecretBox } from './secret-box';

const key = 'k'.repeat(43);

function codeOf(work: () => unknown): string {
  try {
    work();
    return 'opened';
  } catch (error) {
    return DataMachineError.isInstance(error) ? error.code : String(error);
  }
}

describe('secret box', () => {
  it('opens what it sealed, for the same binding; the sealed text holds no plaintext and differs each time', () => {
    const box = createSecretBox(key, 'handler-secrets');
    const first = box.seal('app password 123', 't/a/wordpress');
    const second = box.seal('app password 123', 't/a/wordpress');
    expect(box.open(first, 't/a/wordpress')).toBe('app password 123');
    expect(first).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(first).not.toContain('password');
    expect(first).not.toBe(second);
  });

  it('refuses (secret.unreadable) a value moved to another binding, opened with another key or purpose, or tampered with', () => {
    const box = createSecretBox(key, 'handler-secrets');
    const sealed = box.seal('secret', 't/a/wordpress');
    expect(codeOf(() => box.open(sealed, 't/b/wordpress'))).toBe('secret.unreadable');
    expect(codeOf(() => createSecretBox('x'.repeat(43), 'handler-secrets').open(sealed, 't/a/wordpress'))).toBe('secret.unreadable');
    expect(codeOf(() => createSecretBox(key, 'links').open(sealed, 't/a/wordpress'))).toBe('secret.unreadable');
    const [version, iv, tag, ciphertext] = sealed.split('.') as [string, string, string, string];
    const flipped = `${ciphertext.startsWith('A') ? 'B' : 'A'}${ciphertext.slice(1)}`;
    expect(codeOf(() => box.open([version, iv, tag, flipped].join('.'), 't/a/wordpress'))).toBe('secret.unreadable');
    expect(codeOf(() => box.open('not sealed at all', 't/a/wordpress'))).toBe('secret.unreadable');
  });

  it('refuses a secret key shorter than 32 characters (input.invalid)', () => {
    expect(codeOf(() => createSecretBox('short', 'handler-secrets'))).toBe('input.invalid');
  });
});
