import { describe, expect, it } from 'vitest';
import { createSecretBox } from './secret-box';

const key = 'k'.repeat(40);

describe('secret box', () => {
  it('opens what it sealed for the same place', () => {
    const box = createSecretBox(key);
    expect(box.open(box.seal('whsec_abc', 'flow_1'), 'flow_1')).toBe('whsec_abc');
  });

  it('never stores the plaintext and seals the same secret differently each time', () => {
    const box = createSecretBox(key);
    const first = box.seal('whsec_abc', 'flow_1');
    expect(first).not.toContain('whsec_abc');
    expect(box.seal('whsec_abc', 'flow_1')).not.toBe(first);
  });

  it('refuses a value sealed for another place, under another key, or altered, with secret.unreadable', () => {
    const box = createSecretBox(key);
    const sealed = box.seal('whsec_abc', 'flow_1');
    expect(() => box.open(sealed, 'flow_2')).toThrow(expect.objectContaining({ code: 'secret.unreadable' }));
    expect(() => createSecretBox('z'.repeat(40)).open(sealed, 'flow_1')).toThrow(expect.objectContaining({ code: 'secret.unreadable' }));
    const altered = `${sealed.slice(0, -2)}${sealed.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(() => box.open(altered, 'flow_1')).toThrow(expect.objectContaining({ code: 'secret.unreadable' }));
    expect(() => box.open('plain', 'flow_1')).toThrow(expect.objectContaining({ code: 'secret.unreadable' }));
  });

  it('refuses a key shorter than 32 characters', () => {
    expect(() => createSecretBox('short')).toThrow(expect.objectContaining({ code: 'input.invalid' }));
  });
});
