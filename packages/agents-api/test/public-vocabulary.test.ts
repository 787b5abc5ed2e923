import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const declarations = path.resolve(import.meta.dirname, '../dist/index.d.ts');
/** Product words the substrate's public API must never use, even inside identifiers. */
const productWords = ['job', 'flow', 'pipeline', 'handler', 'queue'];

describe('the public type declarations', () => {
  it.each(productWords)('never mention "%s"', async (word) => {
    const text = (await readFile(declarations, 'utf8')).toLowerCase();
    const lines = text.split('\n').filter((line) => line.includes(word));
    expect(lines).toEqual([]);
  });

  it('are the built declarations of the package entry point', async () => {
    const text = await readFile(declarations, 'utf8');
    expect(text).toContain('createToolLoopRunner');
  });
});
