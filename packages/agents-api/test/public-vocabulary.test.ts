import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The package's build output: what the published package holds. Read as the packing
 * tests read it (test/support/packed-package.ts): the root `test` script builds every
 * package before it runs the tests. A build of its own here cost 16 s of CPU per run.
 */
const distDir = path.resolve(import.meta.dirname, '../dist');
/** Product words the substrate's public API must never use, even inside identifiers. */
const productWords = ['job', 'flow', 'pipeline', 'handler', 'queue', 'retention'];

interface Declaration {
  /** Path relative to the build's output folder, reported next to an offending line. */
  readonly file: string;
  readonly text: string;
}

// Every declaration file, not just the entry point: tsup moves the types shared
// by the `index` and `testing` entries into chunks (`transcript-store-XXXX.d.ts`).
async function readDeclarations(outDir: string): Promise<Declaration[]> {
  const files = (await readdir(outDir, { recursive: true })).filter((file) => /\.d\.[cm]?ts$/.test(file)).sort();
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(path.join(outDir, file), 'utf8') })));
}

describe('the public type declarations', () => {
  let declarations: Declaration[];

  beforeAll(async () => {
    declarations = await readDeclarations(distDir);
  });

  it.each(productWords)('never mention "%s"', (word) => {
    const offending = declarations.flatMap(({ file, text }) =>
      text
        .split('\n')
        .map((line, index) => ({ line, number: index + 1 }))
        .filter(({ line }) => line.toLowerCase().includes(word))
        .map(({ line, number }) => `${file}:${number}: ${line.trim()}`),
    );
    expect(offending).toEqual([]);
  });

  it('include the declarations of the package entry point', () => {
    const entry = declarations.find(({ file }) => file === 'index.d.ts');
    expect(entry?.text).toContain('createToolLoopRunner');
  });

  it('are read from every declaration file the build emits, chunks included', () => {
    expect(declarations.length).toBeGreaterThanOrEqual(2);
  });
});
