import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const packageDir = path.resolve(import.meta.dirname, '..');
const tsup = path.join(packageDir, 'node_modules/.bin/tsup');
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
  let outDir: string;
  let declarations: Declaration[];

  // The package's own build, into a folder of its own rather than `dist`, so the
  // test checks the current source whether or not `dist` was rebuilt, and never
  // reads a `dist` that another process is rebuilding.
  beforeAll(async () => {
    outDir = await mkdtemp(path.join(tmpdir(), 'agents-api-declarations-'));
    await run(tsup, ['--out-dir', outDir, '--silent'], { cwd: packageDir });
    declarations = await readDeclarations(outDir);
  }, 120_000);
  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
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
