import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const ruleId = 'data-machine/package-boundary';
// Fixtures are ignored by the normal lint run; this test lints them on purpose, with the repo's
// config but only the boundary rule, which reads import specifiers and needs no type information:
// so no TypeScript program is built (one for a fixture outside every tsconfig, reaching into
// another package's sources, took seconds on a busy machine).
const eslint = new ESLint({
  cwd: root,
  ignore: false,
  ruleFilter: ({ ruleId: id }) => id === ruleId,
  overrideConfig: { files: ['**/*.{ts,tsx}'], languageOptions: { parserOptions: { projectService: false } } },
});

async function boundaryMessages(file: string): Promise<string[]> {
  const [result] = await eslint.lintFiles([path.join(root, file)]);
  return (result?.messages ?? []).filter((message) => message.ruleId === ruleId).map((message) => message.message);
}

async function boundaryMessagesForText(text: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath: path.join(root, filePath) });
  return (result?.messages ?? []).filter((message) => message.ruleId === ruleId).map((message) => message.message);
}

describe('package boundary lint rule', () => {
  // The first lint loads the config and the parser: setup, so it happens here.
  beforeAll(async () => {
    await boundaryMessages('packages/agents-api/test/fixtures/boundary/imports-product.ts');
  }, 60_000);

  it('fails a file in agents-api that imports data-machine', async () => {
    expect(await boundaryMessages('packages/agents-api/test/fixtures/boundary/imports-product.ts')).toEqual([
      "Package boundary: '@data-machine/agents-api' must not import 'data-machine' (dependencies point server -> data-machine -> agents-api).",
    ]);
  });

  it('fails a file in agents-api whose relative import escapes the package, and its import of the server', async () => {
    expect(await boundaryMessages('packages/agents-api/test/fixtures/boundary/escapes-package.ts')).toEqual([
      "Package boundary: '../../../../data-machine/src/index' resolves outside '@data-machine/agents-api'; import another package by its name, never by path.",
      "Package boundary: '@data-machine/agents-api' must not import '@data-machine/server' (dependencies point server -> data-machine -> agents-api).",
    ]);
  });

  it('fails a file in data-machine that re-exports from the server', async () => {
    expect(await boundaryMessages('packages/data-machine/test/fixtures/boundary/imports-server.ts')).toEqual([
      "Package boundary: 'data-machine' must not import '@data-machine/server' (dependencies point server -> data-machine -> agents-api).",
    ]);
  });

  it('fails shipped source that imports the testkit, and lets tests import it', async () => {
    const text = "import { startModelServer } from '@data-machine/testkit';\nexport const start = startModelServer;\n";
    expect(await boundaryMessagesForText(text, 'packages/agents-api/src/shipped.js')).toEqual([
      "Package boundary: '@data-machine/testkit' is for tests only and must not be imported from '@data-machine/agents-api' source.",
    ]);
    expect(await boundaryMessagesForText(text, 'packages/agents-api/src/shipped.test.js')).toEqual([]);
  });

  it('allows the directions that are right: libraries, own files, and the product importing the substrate', async () => {
    const substrate = "import { Kysely } from 'kysely';\nimport { local } from './local.js';\nexport { Kysely, local };\n";
    expect(await boundaryMessagesForText(substrate, 'packages/agents-api/src/allowed.js')).toEqual([]);
    const product = "export { runMigrations } from '@data-machine/agents-api';\n";
    expect(await boundaryMessagesForText(product, 'packages/data-machine/src/allowed.js')).toEqual([]);
    const server = "export { migrateDataMachine } from 'data-machine';\nexport * from '../../../packages/agents-api/src/index.js';\n";
    expect(await boundaryMessagesForText(server, 'apps/server/src/allowed.js')).toEqual([
      "Package boundary: '../../../packages/agents-api/src/index.js' resolves outside '@data-machine/server'; import another package by its name, never by path.",
    ]);
  });
});
