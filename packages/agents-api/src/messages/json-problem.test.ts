import { describe, expect, it } from 'vitest';
import { findJsonProblem } from './json-problem';

describe('findJsonProblem', () => {
  it('finds nothing in plain JSON, undefined fields, shared objects and a Date', () => {
    const shared = { tag: 'x' };
    expect(findJsonProblem({ text: 'é🌍', n: 1.5, ok: true, none: null, gone: undefined, list: [1, 'two'], a: shared, b: shared, at: new Date(0) })).toBeUndefined();
  });

  const problems: readonly [string, unknown, string][] = [
    ['a NUL in a string', { note: 'a\u0000b' }, 'value.note: a NUL character (U+0000)'],
    ['a NUL in a key', { 'a\u0000b': 1 }, 'value: a key with a NUL character (U+0000)'],
    ['a BigInt', { list: [1, 2n] }, 'value.list[1]: a BigInt, which JSON cannot hold'],
    ['a function', { callback: () => 1 }, 'value.callback: a function, which JSON would drop'],
    ['a symbol', { tag: Symbol('x') }, 'value.tag: a symbol, which JSON would drop'],
    ['NaN', { score: Number.NaN }, 'value.score: NaN, which JSON cannot hold'],
    ['a Map', { entries: new Map() }, 'value.entries: a Map, which JSON would not keep'],
  ];

  it.each(problems)('names %s and where it is', (_what, value, problem) => {
    expect(findJsonProblem(value)).toBe(problem);
  });

  it('calls toJSON once, as JSON.stringify does, even when it returns its own object', () => {
    const selfish = {
      note: 'ok',
      toJSON(): unknown {
        return this;
      },
    };
    // No endless recursion: the returned object is checked as it is, and its toJSON is a function JSON drops.
    expect(findJsonProblem({ selfish })).toBe('value.selfish.toJSON: a function, which JSON would drop');
    expect(findJsonProblem({ bad: { toJSON: () => ({ id: 1n }) } })).toBe('value.bad.id: a BigInt, which JSON cannot hold');
  });

  it('names a circular reference instead of overflowing', () => {
    const node: Record<string, unknown> = {};
    node.child = { parent: node };
    expect(findJsonProblem(node, 'metadata')).toBe('metadata.child.parent: a circular reference');
  });
});
