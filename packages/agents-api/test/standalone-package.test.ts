import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const packageDir = path.resolve(import.meta.dirname, '..');
const repositoryRoot = path.resolve(packageDir, '../..');
const pnpm = path.join(repositoryRoot, 'node_modules/.bin/pnpm');

/** A consumer that knows nothing of this repository: plain ESM against the installed package. */
const consumer = `
import { createInMemoryTranscriptStore, createMessage, createOpenAIProvider, createToolLoopRunner, defineTool } from '@data-machine/agents-api';
import { z } from 'zod';

const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => 'Sunny in ' + city,
});
const runner = createToolLoopRunner({
  provider: createOpenAIProvider({ apiKey: 'test-key', baseURL: process.env.MODEL_URL, model: 'test-model', maxRetries: 0 }),
});
const result = await runner.run({
  instructions: 'You are a weather assistant.',
  messages: [createMessage({ type: 'text', role: 'user', content: 'Weather in Paris?', payload: {} })],
  tools: [weather],
  principal: {
    userId: 'u1', tenantId: null, agentSlug: 'weather', authSource: 'user', requestContext: 'cli', tokenId: null,
    ceiling: { allowed: 'unrestricted', denied: [] }, callerChain: [],
  },
});
console.log(JSON.stringify({
  status: result.status, turns: result.turns, finalContent: result.finalContent, tool: result.toolExecutions[0]?.content,
  storeDurable: createInMemoryTranscriptStore().durable,
  testingEntry: import.meta.resolve('@data-machine/agents-api/testing').endsWith('/dist/testing.js'),
}));
`;

describe('the published package', () => {
  let workDir: string;
  let server: ModelServer;

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'agents-api-standalone-'));
    server = await startModelServer();
  });
  afterAll(async () => {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('installs from its packed tarball with plain npm and runs a two-turn tool conversation', { timeout: 180_000 }, async () => {
    await run(pnpm, ['pack', '--pack-destination', workDir], { cwd: packageDir });
    const tarball = (await readdir(workDir)).find((name) => name.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const project = path.join(workDir, 'consumer');
    await run('mkdir', ['-p', project]);
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', path.join(workDir, String(tarball)), 'zod@4'], {
      cwd: project,
      timeout: 150_000,
    });
    await writeFile(path.join(project, 'main.mjs'), consumer);

    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: project, env: { ...process.env, MODEL_URL: server.baseURL } });
    expect(JSON.parse(stdout)).toEqual({
      status: 'completed',
      turns: 2,
      finalContent: 'It is sunny in Paris.',
      tool: 'Sunny in Paris',
      storeDurable: false,
      testingEntry: true,
    });

    const installed = JSON.parse(await readFile(path.join(project, 'node_modules/@data-machine/agents-api/package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    expect(Object.keys(installed.dependencies ?? {})).not.toContain('data-machine');
  });
});
