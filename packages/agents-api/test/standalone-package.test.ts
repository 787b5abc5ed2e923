import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { preparePgliteDataDir, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installProject, packTarballs, pinnedVersion, run, type PackedTarballs } from './support/packed-package';

interface Manifest {
  readonly exports: Record<string, unknown>;
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The main entry alone: a model provider written against the contract, no vendor SDK, no database. */
const coreConsumer = `
import * as main from '@data-machine/agents-api';
import { createInMemoryTranscriptStore, createMessage, createToolLoopRunner, defineTool, emptyUsage } from '@data-machine/agents-api';
import { memoryContentHash, sessionNotFound } from '@data-machine/agents-api/store-kit';
import { z } from 'zod';

const notInstalled = [];
for (const name of ['kysely', 'pg', 'openai']) {
  try { await import(name); } catch (error) { if (error.code === 'ERR_MODULE_NOT_FOUND') notInstalled.push(name); else throw error; }
}

const replies = [
  { content: null, toolCalls: [{ id: 'call-1', name: 'weather', arguments: '{"city":"Paris"}' }], finishReason: 'tool_calls' },
  { content: 'It is sunny in Paris.', toolCalls: [], finishReason: 'stop' },
];
const provider = {
  name: 'scripted',
  async complete() { return { ...replies.shift(), usage: emptyUsage, model: 'scripted' }; },
  async *stream(request, options) { yield { type: 'response', response: await this.complete(request, options) }; },
};
const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => 'Sunny in ' + city,
});
const result = await createToolLoopRunner({ provider }).run({
  messages: [createMessage({ type: 'text', role: 'user', content: 'Weather in Paris?', payload: {} })],
  tools: [weather],
  principal: {
    userId: 'u1', tenantId: null, agentSlug: 'weather', authSource: 'user', requestContext: 'cli', tokenId: null,
    ceiling: { allowed: 'unrestricted', denied: [] }, callerChain: [],
  },
});
console.log(JSON.stringify({
  notInstalled, status: result.status, turns: result.turns, finalContent: result.finalContent,
  tool: result.toolExecutions[0]?.content, storeDurable: createInMemoryTranscriptStore().durable,
  storeKit: [memoryContentHash('').length, sessionNotFound('s1').code],
  storeKitInMain: ['memoryContentHash', 'parseTranscriptInput', 'createOpenAIProvider', 'migrateAgentsApi'].filter((name) => name in main),
}));
`;

/** The subpaths, with their optional peers installed: OpenAI against the local model server, Postgres stores on PGlite. */
const fullConsumer = `
import { readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PgliteDialect } from '@data-machine/pglite-dialect';
import { createMessage, createToolLoopRunner, defineTool } from '@data-machine/agents-api';
import { createOpenAIProvider, toOpenAIChatMessages } from '@data-machine/agents-api/openai';
import { createPostgresTranscriptStore, getMigrationState, migrateAgentsApi } from '@data-machine/agents-api/postgres';
import { Kysely } from 'kysely';
import { z } from 'zod';

const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => 'Sunny in ' + city,
});
const question = createMessage({ type: 'text', role: 'user', content: 'Weather in Paris?', payload: {} });
const result = await createToolLoopRunner({
  provider: createOpenAIProvider({ apiKey: 'test-key', baseURL: process.env.OPENAI_BASE_URL, model: 'test-model', maxRetries: 0 }),
}).run({
  messages: [question],
  tools: [weather],
  principal: {
    userId: 'u1', tenantId: null, agentSlug: 'weather', authSource: 'user', requestContext: 'cli', tokenId: null,
    ceiling: { allowed: 'unrestricted', denied: [] }, callerChain: [],
  },
});

// An initialised, empty cluster the test prepared, loaded: initdb is the README test's to run.
const loadDataDir = new Blob([await readFile(process.env.PGLITE_DATA_DIR_DUMP)]);
const db = new Kysely({ dialect: new PgliteDialect({ pglite: await PGlite.create({ loadDataDir }) }) });
await migrateAgentsApi(db);
const store = createPostgresTranscriptStore({ db });
const owner = { userId: 'u1', tenantId: null };
const session = await store.createSession(owner, { agentSlug: 'weather' });
await store.append(owner, session.id, [question]);
const stored = await store.loadMessages(owner, session.id);
const pending = (await getMigrationState(db, (await import('@data-machine/agents-api/postgres')).agentsApiMigrations)).pending;
await db.destroy();

console.log(JSON.stringify({
  status: result.status, turns: result.turns, finalContent: result.finalContent,
  chatRoles: toOpenAIChatMessages([question]).map((message) => message.role),
  storedContents: stored.map((stored) => stored.message.content), pending,
}));
`;

describe('the published package', () => {
  let workDir: string;
  let tarballs: PackedTarballs;
  let server: ModelServer;

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'agents-api-standalone-'));
    tarballs = await packTarballs(workDir);
    server = await startModelServer();
  }, 60_000);
  afterAll(async () => {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  // One install of the main entry with zod alone, shared by the tests that need it.
  let core: Promise<string> | undefined;
  async function coreProject(): Promise<string> {
    core ??= (async () =>
      installProject(path.join(workDir, 'core'), {
        '@data-machine/agents-api': `file:${tarballs.agentsApi}`,
        zod: await pinnedVersion('zod'),
      }))();
    return core;
  }

  async function packedManifest(): Promise<Manifest> {
    const { stdout } = await run('tar', ['-xOzf', tarballs.agentsApi, 'package/package.json']);
    return JSON.parse(stdout) as Manifest;
  }

  it('has no export condition pointing at src/, which the tarball does not hold', async () => {
    const manifest = await packedManifest();
    expect(JSON.stringify(manifest.exports)).not.toContain('@data-machine/source');
    expect(JSON.stringify(manifest.exports)).not.toContain('./src/');
    expect(Object.keys(manifest.exports).sort()).toEqual(['.', './openai', './package.json', './postgres', './store-kit', './testing']);
  });

  it('takes zod, kysely and openai as peer dependencies with ranges, so a caller keeps one copy of each', async () => {
    const manifest = await packedManifest();
    expect(manifest.dependencies ?? {}).toEqual({});
    for (const name of ['zod', 'kysely', 'openai']) expect(manifest.peerDependencies?.[name]).toMatch(/^\^/);
    expect(manifest.peerDependenciesMeta?.kysely?.optional).toBe(true);
    expect(manifest.peerDependenciesMeta?.openai?.optional).toBe(true);
  });

  it('runs its main entry with neither kysely, pg nor openai installed', { timeout: 120_000 }, async () => {
    const project = await coreProject();
    await writeFile(path.join(project, 'main.mjs'), coreConsumer);
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({
      notInstalled: ['kysely', 'pg', 'openai'],
      status: 'completed',
      turns: 2,
      finalContent: 'It is sunny in Paris.',
      tool: 'Sunny in Paris',
      storeDurable: false,
      storeKit: [64, 'transcript.session_not_found'],
      storeKitInMain: [],
    });
  });

  it('reaches only zod and Node built-ins from its main entry, in code and in declarations', { timeout: 120_000 }, async () => {
    const project = await coreProject();
    const dist = path.join(project, 'node_modules/@data-machine/agents-api/dist');
    const reached = await bareImportsReachableFrom(dist, ['index.js', 'index.d.ts']);
    expect(reached.filter((specifier) => !isBuiltin(specifier))).toEqual(['zod']);
  });

  it('serves /openai and /postgres when their peers are installed, on embedded PGlite', { timeout: 120_000 }, async () => {
    const project = await installProject(path.join(workDir, 'full'), {
      '@data-machine/agents-api': `file:${tarballs.agentsApi}`,
      '@data-machine/pglite-dialect': `file:${tarballs.pgliteDialect}`,
      '@electric-sql/pglite': await pinnedVersion('@electric-sql/pglite'),
      kysely: await pinnedVersion('kysely'),
      openai: await pinnedVersion('openai'),
      zod: await pinnedVersion('zod'),
    });
    await writeFile(path.join(project, 'main.mjs'), fullConsumer);
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const { stdout } = await run(process.execPath, ['main.mjs'], {
      cwd: project,
      // The empty initialised cluster every PGlite test database loads (docs/decisions/2026-11-30-fast-test-databases.md).
      env: { ...process.env, OPENAI_BASE_URL: server.baseURL, PGLITE_DATA_DIR_DUMP: await preparePgliteDataDir() },
    });
    expect(JSON.parse(stdout)).toEqual({
      status: 'completed',
      turns: 2,
      finalContent: 'It is sunny in Paris.',
      chatRoles: ['user'],
      storedContents: ['Weather in Paris?'],
      pending: [],
    });
  });
});

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier);
}

/** The bare specifiers (packages, built-ins) that the files reachable from `entries` through relative imports import. */
async function bareImportsReachableFrom(directory: string, entries: readonly string[]): Promise<string[]> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const queue = [...entries];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (seen.has(file)) continue;
    seen.add(file);
    // Comments go first: TSDoc examples in declarations quote imports that are not made.
    const text = (await readFile(path.join(directory, file), 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
      if (specifier === undefined) continue;
      if (!specifier.startsWith('.')) bare.add(specifier);
      else {
        const target = path.normalize(path.join(path.dirname(file), specifier));
        // A declaration imports its sibling chunk as `./x.js`; the file read is `./x.d.ts`.
        queue.push(file.endsWith('.d.ts') ? target.replace(/\.js$/, '.d.ts') : target);
      }
    }
  }
  return [...bare].sort();
}
