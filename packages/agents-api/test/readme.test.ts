import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startModelServer, textReply, toolCallReply, type ModelReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installProject, packTarballs, pinnedVersion, run } from './support/packed-package';

interface Example {
  readonly file: string;
  readonly code: string;
}

/** Every ```ts block of the README; each names its file on its first line (`// quick-start.ts`). */
function examplesIn(readme: string): Example[] {
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map(([, code = '']) => {
    const file = /^\/\/ ([\w.-]+\.ts)\n/.exec(code)?.[1];
    if (file === undefined) throw new Error(`A README example does not name its file on its first line:\n${code}`);
    return { file, code };
  });
}

/** What each example prints, and the model replies it needs. A README example missing here fails the suite. */
const expectations: Record<string, { readonly replies: readonly ModelReply[]; readonly stdout: string }> = {
  'quick-start.ts': {
    replies: [toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.')],
    stdout: 'It is sunny in Paris.',
  },
  'principals.ts': { replies: [], stdout: 'true false' },
  'durable-sessions.ts': { replies: [textReply('Noted, Ada.'), textReply('Your name is Ada.')], stdout: 'Your name is Ada.' },
  'my-store.test.ts': { replies: [], stdout: '' },
};

describe('the package README', () => {
  let workDir: string;
  let project: string;
  let server: ModelServer;
  let examples: Example[];
  // One compile (typecheck and emit to `out/`) shared by the tests that need it.
  let compiled: Promise<unknown> | undefined;
  const compile = (): Promise<unknown> => (compiled ??= run(path.join(project, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: project }));

  beforeAll(async () => {
    examples = examplesIn(await readFile(path.resolve(import.meta.dirname, '../README.md'), 'utf8'));
    workDir = await mkdtemp(path.join(tmpdir(), 'agents-api-readme-'));
    server = await startModelServer();
    const tarballs = await packTarballs(workDir);
    const pinned = async (...names: string[]) => Object.fromEntries(await Promise.all(names.map(async (name) => [name, await pinnedVersion(name)])));
    project = await installProject(path.join(workDir, 'readme'), {
      '@data-machine/agents-api': `file:${tarballs.agentsApi}`,
      '@data-machine/pglite-dialect': `file:${tarballs.pgliteDialect}`,
      ...(await pinned('@electric-sql/pglite', 'kysely', 'openai', 'zod', 'typescript', '@types/node', 'vitest')),
    });
    await writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, types: ['node'], outDir: 'out', skipLibCheck: true },
        include: ['*.ts'],
      }),
    );
    for (const { file, code } of examples) await writeFile(path.join(project, file), code);
  }, 180_000);
  afterAll(async () => {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('has an expectation here for every example, and an example for every expectation', () => {
    expect(examples.map(({ file }) => file).sort()).toEqual(Object.keys(expectations).sort());
  });

  it('has examples that typecheck, strictly, against the packed package', { timeout: 120_000 }, async () => {
    await expect(compile()).resolves.toBeDefined();
  });

  it.each(['quick-start.ts', 'principals.ts', 'durable-sessions.ts'])('runs %s against an OpenAI-compatible server', { timeout: 120_000 }, async (file) => {
    await compile();
    const { replies, stdout } = expectations[file] ?? { replies: [], stdout: '' };
    server.reset();
    if (replies.length > 0) server.enqueue(...replies);
    const output = await run(process.execPath, [path.join('out', file.replace(/\.ts$/, '.js'))], {
      cwd: project,
      env: { ...process.env, OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: 'test-key', OPENAI_MODEL: 'test-model' },
    });
    expect(output.stdout.trim()).toBe(stdout);
  });

  it('runs my-store.test.ts, the contract suite, under the consumer\'s own vitest', { timeout: 120_000 }, async () => {
    const output = await run(path.join(project, 'node_modules/.bin/vitest'), ['run', 'my-store.test.ts'], {
      cwd: project,
      env: { ...process.env, CI: '1', NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    expect(output.stdout).toMatch(/Tests\s+\d+ passed/);
  });
});
