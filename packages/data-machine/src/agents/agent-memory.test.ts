import { createHash } from 'node:crypto';
import { AgentsApiError, type MemoryStore } from '@data-machine/agents-api';
import { createPostgresMemoryStore, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { flowWorld, tokenScope } from '../../test/support/pipeline-fixture';
import { deleteAgentMemoryFile, listAgentMemoryFiles, readAgentMemoryFile, writeAgentMemoryFile } from './agent-memory';
import { deleteAgent } from './agent-repository';

/** The code of what `promise` rejects with (either package's error), or `'resolved'`. */
async function failure(promise: Promise<unknown>): Promise<{ code: string; details: Readonly<Record<string, unknown>> | undefined } | 'resolved'> {
  try {
    await promise;
  } catch (error) {
    if (DataMachineError.isInstance(error) || AgentsApiError.isInstance(error)) return { code: error.code, details: error.details };
    throw error;
  }
  return 'resolved';
}
const codeOf = async (promise: Promise<unknown>) => {
  const result = await failure(promise);
  return result === 'resolved' ? result : result.code;
};

const memoryContentHash = (content: string) => createHash('sha256').update(content, 'utf8').digest('hex');

await describeEachDatabase<DataMachineDatabase & AgentsApiDatabase>('agent memory files', (database) => {
  let context: TestContext;
  let memory: MemoryStore;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    memory = createPostgresMemoryStore({ db: database.db });
  });
  const soul = { layer: 'agent', path: 'SOUL.md' } as const;

  it('creates a file only when absent, lists it with its layer and hash, and reads it back', async () => {
    const world = await flowWorld(context, 'memory-basic');
    const written = await writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: '# Bot\n', ifMatch: null });
    expect(written).toMatchObject({ layer: 'agent', path: 'SOUL.md', created: true, bytes: 6, contentHash: memoryContentHash('# Bot\n') });
    await writeAgentMemoryFile(context, memory, world.admin, 'bot', { layer: 'site', path: 'rules/RULES.md', content: 'Be brief.', ifMatch: null });
    const listed = await listAgentMemoryFiles(context, memory, world.viewer, 'bot');
    expect(listed.map((file) => [file.layer, file.path, file.bytes])).toEqual([
      ['agent', 'SOUL.md', 6],
      ['site', 'rules/RULES.md', 9],
    ]);
    expect(await readAgentMemoryFile(context, memory, world.viewer, 'bot', soul)).toMatchObject({ content: '# Bot\n', contentHash: written.contentHash });
  });

  it('replaces the version the writer read, and refuses a save from a stale version with the current hash (memory.conflict)', async () => {
    const world = await flowWorld(context, 'memory-conflict');
    const first = await writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: 'one', ifMatch: null });
    const second = await writeAgentMemoryFile(context, memory, world.owner, 'bot', { ...soul, content: 'two', ifMatch: first.contentHash });
    expect(second.created).toBe(false);
    const stale = await failure(writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: 'mine', ifMatch: first.contentHash }));
    expect(stale).toMatchObject({ code: 'memory.conflict', details: { expected: first.contentHash, actual: second.contentHash } });
    expect(await codeOf(writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: 'again', ifMatch: null }))).toBe('memory.conflict');
    expect((await readAgentMemoryFile(context, memory, world.admin, 'bot', soul)).content).toBe('two');
  });

  it('lets a viewer read but only an admin write or delete; someone without a role sees no agent', async () => {
    const world = await flowWorld(context, 'memory-roles');
    await writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: 'x', ifMatch: null });
    expect(await codeOf(writeAgentMemoryFile(context, memory, world.viewer, 'bot', { ...soul, path: 'MEMORY.md', content: 'y', ifMatch: null }))).toBe('access.denied');
    expect(await codeOf(writeAgentMemoryFile(context, memory, world.operator, 'bot', { ...soul, path: 'MEMORY.md', content: 'y', ifMatch: null }))).toBe('access.denied');
    expect(await codeOf(deleteAgentMemoryFile(context, memory, world.viewer, 'bot', soul))).toBe('access.denied');
    expect(await codeOf(readAgentMemoryFile(context, memory, world.member, 'bot', soul))).toBe('agent.not_found');
    expect(await codeOf(listAgentMemoryFiles(context, memory, world.member, 'bot'))).toBe('agent.not_found');
    expect((await listAgentMemoryFiles(context, memory, world.admin, 'bot')).map((file) => file.path)).toEqual(['SOUL.md']);
  });

  it('lets an agent token with chat read, and only one with manage_agents write', async () => {
    const world = await flowWorld(context, 'memory-tokens');
    const chatting = await tokenScope(context, world.admin, ['chat']);
    const managing = await tokenScope(context, world.admin, ['manage_agents']);
    expect(await codeOf(writeAgentMemoryFile(context, memory, chatting, 'bot', { ...soul, content: 'x', ifMatch: null }))).toBe('access.denied');
    await writeAgentMemoryFile(context, memory, managing, 'bot', { ...soul, content: 'x', ifMatch: null });
    expect((await readAgentMemoryFile(context, memory, chatting, 'bot', soul)).content).toBe('x');
  });

  it('deletes a file, only the version named when ifMatch is given, and says memory.not_found for a missing one', async () => {
    const world = await flowWorld(context, 'memory-delete');
    const written = await writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: 'x', ifMatch: null });
    expect(await codeOf(deleteAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, ifMatch: memoryContentHash('other') }))).toBe('memory.conflict');
    await deleteAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, ifMatch: written.contentHash });
    expect(await codeOf(readAgentMemoryFile(context, memory, world.admin, 'bot', soul))).toBe('memory.not_found');
    expect(await codeOf(deleteAgentMemoryFile(context, memory, world.admin, 'bot', soul))).toBe('memory.not_found');
    expect(await codeOf(deleteAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, ifMatch: written.contentHash }))).toBe('memory.not_found');
  });

  it('refuses a bad path, an unknown layer, or a malformed hash (input.invalid) and content the store cannot hold (memory.invalid_content)', async () => {
    const world = await flowWorld(context, 'memory-input');
    expect(await codeOf(writeAgentMemoryFile(context, memory, world.admin, 'bot', { layer: 'agent', path: '../SOUL.md', content: 'x', ifMatch: null }))).toBe('input.invalid');
    expect(await codeOf(readAgentMemoryFile(context, memory, world.admin, 'bot', { layer: 'user' as 'agent', path: 'USER.md' }))).toBe('input.invalid');
    expect(await codeOf(writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: 'x', ifMatch: 'abc' }))).toBe('input.invalid');
    expect(await codeOf(writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: 'nul \u0000', ifMatch: null }))).toBe('memory.invalid_content');
    expect(await listAgentMemoryFiles(context, memory, world.admin, 'bot')).toEqual([]);
  });

  it('keeps files apart per agent and deletes them with their agent', async () => {
    const world = await flowWorld(context, 'memory-agent-deleted');
    await writeAgentMemoryFile(context, memory, world.admin, 'bot', { ...soul, content: 'x', ifMatch: null });
    const other = await flowWorld(context, 'memory-agent-other');
    expect(await listAgentMemoryFiles(context, memory, other.admin, 'bot')).toEqual([]);
    await deleteAgent(context, world.owner, 'bot');
    const rows = await database.db.selectFrom('agents_memory_files').select('tenant_key').where('tenant_key', '=', world.tenant.id).execute();
    expect(rows).toEqual([]);
  });
});
