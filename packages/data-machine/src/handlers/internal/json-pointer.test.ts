import { describe, expect, it } from 'vitest';
import { jsonPointerSchema, resolveJsonPointer } from './json-pointer';

describe('JSON pointer (RFC 6901)', () => {
  const document = { data: { items: [{ id: 1 }, { id: 2 }] }, 'a/b': { 'm~n': 'escaped' }, '': 'empty name' };

  it('resolves the whole document, nested names and array indexes', () => {
    expect(resolveJsonPointer(document, '')).toBe(document);
    expect(resolveJsonPointer(document, '/data/items/1/id')).toBe(2);
    expect(resolveJsonPointer(document, '/')).toBe('empty name');
  });

  it('unescapes ~1 to / and ~0 to ~', () => {
    expect(resolveJsonPointer(document, '/a~1b/m~0n')).toBe('escaped');
  });

  it('answers undefined for what is not there, bad indexes and inherited names', () => {
    expect(resolveJsonPointer(document, '/data/missing')).toBeUndefined();
    expect(resolveJsonPointer(document, '/data/items/01')).toBeUndefined();
    expect(resolveJsonPointer(document, '/data/items/-')).toBeUndefined();
    expect(resolveJsonPointer(document, '/data/constructor')).toBeUndefined();
  });

  it('accepts only well-formed pointers', () => {
    expect(['', '/a', '/a/0', '/a~0~1'].map((pointer) => jsonPointerSchema.safeParse(pointer).success)).toEqual([true, true, true, true]);
    expect(['a', '/a~2', '$.a'].map((pointer) => jsonPointerSchema.safeParse(pointer).success)).toEqual([false, false, false]);
  });
});
