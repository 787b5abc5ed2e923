import { describe, expect, it } from 'vitest';
import { deepFreeze } from './deep-freeze';

describe('deepFreeze', () => {
  it('freezes the value and every object and array it holds', () => {
    const value = { list: [{ name: 'a' }], nested: { inner: { flag: true } } };
    const frozen = deepFreeze(value);
    expect(frozen).toBe(value);
    expect([frozen, frozen.list, frozen.list[0], frozen.nested, frozen.nested.inner].every((part) => Object.isFrozen(part))).toBe(true);
  });

  it('returns primitives and null as they are', () => {
    expect([deepFreeze('text'), deepFreeze(1), deepFreeze(null), deepFreeze(undefined)]).toEqual(['text', 1, null, undefined]);
  });

  it('walks into an object that is frozen but holds unfrozen ones (zod\'s readonly records)', () => {
    const record = Object.freeze({ nested: { list: [1] } });
    deepFreeze({ record });
    expect(Object.isFrozen(record.nested) && Object.isFrozen(record.nested.list)).toBe(true);
  });
});
