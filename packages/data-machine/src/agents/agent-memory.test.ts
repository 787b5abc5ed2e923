import { createHash } from 'node:crypto';
import { AgentsApiError, type MemoryStore } from '@data-machine/agents-api';
import { createPostgresMemoryStore, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { flowWorld, tokenScope } from '../../test/support/pipeline-fixture';
import { revokeAgentRole } from '../grants/grant-repository';
import { inTenant } from '../scope/tenant-transaction';
import { duringOpenChange } from '../../test/support/open-change';
import { deleteAgentMemoryFile, listAgentMemoryFiles, readAgentMemoryFile, writeAgentMemoryFile } from './agent-memory';
import { createAgent, deleteAgent } from './agent-repository';
import { withSubstrateTables } from './agent-substrate-data';

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
    const written = await writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: '# Bot\n', ifMatch: null });
    expect(written).toMatchObject({ layer: 'agent', path: 'SOUL.md', created: true, bytes: 6, contentHash: memoryContentHash('# Bot\n') });
    await writeAgentMemoryFile(context, world.admin, 'bot', { layer: 'site', path: 'rules/RULES.md', content: 'Be brief.', ifMatch: null });
    const listed = await listAgentMemoryFiles(context, world.viewer, 'bot');
    expect(listed.map((file) => [file.layer, file.path, file.bytes])).toEqual([
      ['agent', 'SOUL.md', 6],
      ['site', 'rules/RULES.md', 9],
    ]);
    expect(await readAgentMemoryFile(context, world.viewer, 'bot', soul)).toMatchObject({ content: '# Bot\n', contentHash: written.contentHash });
  });

  it('replaces the version the writer read, and refuses a save from a stale version with the current hash (memory.conflict)', async () => {
    const world = await flowWorld(context, 'memory-conflict');
    const first = await writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'one', ifMatch: null });
    const second = await writeAgentMemoryFile(context, world.owner, 'bot', { ...soul, content: 'two', ifMatch: first.contentHash });
    expect(second.created).toBe(false);
    const stale = await failure(writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'mine', ifMatch: first.contentHash }));
    expect(stale).toMatchObject({ code: 'memory.conflict', details: { expected: first.contentHash, actual: second.contentHash } });
    expect(await codeOf(writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'again', ifMatch: null }))).toBe('memory.conflict');
    expect((await readAgentMemoryFile(context, world.admin, 'bot', soul)).content).toBe('two');
  });

  it('lets a viewer read but only an admin write or delete; someone without a role sees no agent', async () => {
    const world = await flowWorld(context, 'memory-roles');
    await writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'x', ifMatch: null });
    expect(await codeOf(writeAgentMemoryFile(context, world.viewer, 'bot', { ...soul, path: 'MEMORY.md', content: 'y', ifMatch: null }))).toBe('access.denied');
    expect(await codeOf(writeAgentMemoryFile(context, world.operator, 'bot', { ...soul, path: 'MEMORY.md', content: 'y', ifMatch: null }))).toBe('access.denied');
    expect(await codeOf(deleteAgentMemoryFile(context, world.viewer, 'bot', soul))).toBe('access.denied');
    expect(await codeOf(readAgentMemoryFile(context, world.member, 'bot', soul))).toBe('agent.not_found');
    expect(await codeOf(listAgentMemoryFiles(context, world.member, 'bot'))).toBe('agent.not_found');
    expect((await listAgentMemoryFiles(context, world.admin, 'bot')).map((file) => file.path)).toEqual(['SOUL.md']);
  });

  it('lets an agent token with chat read, and only one with manage_agents write', async () => {
    const world = await flowWorld(context, 'memory-tokens');
    const chatting = await tokenScope(context, world.admin, ['chat']);
    const managing = await tokenScope(context, world.admin, ['manage_agents']);
    expect(await codeOf(writeAgentMemoryFile(context, chatting, 'bot', { ...soul, content: 'x', ifMatch: null }))).toBe('access.denied');
    await writeAgentMemoryFile(context, managing, 'bot', { ...soul, content: 'x', ifMatch: null });
    expect((await readAgentMemoryFile(context, chatting, 'bot', soul)).content).toBe('x');
  });

  it('deletes a file, only the version named when ifMatch is given, and says memory.not_found for a missing one', async () => {
    const world = await flowWorld(context, 'memory-delete');
    const written = await writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'x', ifMatch: null });
    expect(await codeOf(deleteAgentMemoryFile(context, world.admin, 'bot', { ...soul, ifMatch: memoryContentHash('other') }))).toBe('memory.conflict');
    await deleteAgentMemoryFile(context, world.admin, 'bot', { ...soul, ifMatch: written.contentHash });
    expect(await codeOf(readAgentMemoryFile(context, world.admin, 'bot', soul))).toBe('memory.not_found');
    expect(await codeOf(deleteAgentMemoryFile(context, world.admin, 'bot', soul))).toBe('memory.not_found');
    expect(await codeOf(deleteAgentMemoryFile(context, world.admin, 'bot', { ...soul, ifMatch: written.contentHash }))).toBe('memory.not_found');
  });

  it('refuses a bad path, an unknown layer, or a malformed hash (input.invalid) and content the store cannot hold (memory.invalid_content)', async () => {
    const world = await flowWorld(context, 'memory-input');
    expect(await codeOf(writeAgentMemoryFile(context, world.admin, 'bot', { layer: 'agent', path: '../SOUL.md', content: 'x', ifMatch: null }))).toBe('input.invalid');
    expect(await codeOf(readAgentMemoryFile(context, world.admin, 'bot', { layer: 'user' as 'agent', path: 'USER.md' }))).toBe('input.invalid');
    expect(await codeOf(writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'x', ifMatch: 'abc' }))).toBe('input.invalid');
    expect(await codeOf(writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'nul \u0000', ifMatch: null }))).toBe('memory.invalid_content');
    expect(await listAgentMemoryFiles(context, world.admin, 'bot')).toEqual([]);
  });

  it('keeps files apart per agent and deletes them with their agent', async () => {
    const world = await flowWorld(context, 'memory-agent-deleted');
    await writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'x', ifMatch: null });
    const other = await flowWorld(context, 'memory-agent-other');
    expect(await listAgentMemoryFiles(context, other.admin, 'bot')).toEqual([]);
    await deleteAgent(context, world.owner, 'bot');
    const rows = await database.db.selectFrom('agents_memory_files').select('tenant_key').where('tenant_key', '=', world.tenant.id).execute();
    expect(rows).toEqual([]);
  });

  it("saves where the host's memory store reads, the one chat turns and the ai step read", async () => {
    const world = await flowWorld(context, 'memory-host-store');
    await writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'Read by runs.', ifMatch: null });
    expect(await memory.read({ ...soul, tenantId: world.tenant.id, agentSlug: 'bot', userId: null })).toMatchObject({ exists: true, content: 'Read by runs.' });
  });

  it('lets exactly one of two saves from the same version win; the other is memory.conflict with the winner\'s hash', async () => {
    const world = await flowWorld(context, 'memory-two-savers');
    const first = await writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'one', ifMatch: null });
    const saves = await Promise.allSettled(
      [world.admin, world.owner].map((scope, index) => writeAgentMemoryFile(context, scope, 'bot', { ...soul, content: `saver ${index}`, ifMatch: first.contentHash })),
    );
    const won = saves.flatMap((save) => (save.status === 'fulfilled' ? [save.value] : []));
    const lost = saves.flatMap((save) => (save.status === 'rejected' ? [save.reason as unknown] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(AgentsApiError.isInstance(lost[0]) && { code: lost[0].code, details: lost[0].details }).toMatchObject({
      code: 'memory.conflict',
      details: { expected: first.contentHash, actual: won[0]!.contentHash },
    });
    expect((await readAgentMemoryFile(context, world.admin, 'bot', soul)).contentHash).toBe(won[0]!.contentHash);
  });

  it('lets exactly one of two creates win', async () => {
    const world = await flowWorld(context, 'memory-two-creators');
    const saves = await Promise.all([world.admin, world.owner].map((scope, index) => codeOf(writeAgentMemoryFile(context, scope, 'bot', { ...soul, content: `creator ${index}`, ifMatch: null }))));
    expect(saves.sort()).toEqual(['memory.conflict', 'resolved']);
  });

  it('refuses a save after the agent was deleted (agent.not_found) and leaves nothing a new agent of the slug would find', async () => {
    const world = await flowWorld(context, 'memory-after-delete');
    await deleteAgent(context, world.owner, 'bot');
    expect(await codeOf(writeAgentMemoryFile(context, world.owner, 'bot', { ...soul, content: 'orphan', ifMatch: null }))).toBe('agent.not_found');
    expect(await database.db.selectFrom('agents_memory_files').select('path').where('tenant_key', '=', world.tenant.id).execute()).toEqual([]);
    await createAgent(context, world.owner, { slug: 'bot', name: 'Bot again' });
    expect(await listAgentMemoryFiles(context, world.owner, 'bot')).toEqual([]);
  });

  it('refuses a save by an editor whose grant was revoked, and writes nothing', async () => {
    const world = await flowWorld(context, 'memory-revoked');
    await revokeAgentRole(context, world.owner, 'bot', world.userIds.admin);
    expect(await codeOf(writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'too late', ifMatch: null }))).toBe('agent.not_found');
    expect(await codeOf(deleteAgentMemoryFile(context, world.admin, 'bot', soul))).toBe('agent.not_found');
    expect(await listAgentMemoryFiles(context, world.owner, 'bot')).toEqual([]);
  });

  it("confines the plain role's memory files to its tenant's agents (row-level security)", async () => {
    const mine = await flowWorld(context, 'memory-rls-mine');
    const theirs = await flowWorld(context, 'memory-rls-theirs');
    const existing = await writeAgentMemoryFile(context, theirs.admin, 'bot', { ...soul, content: 'theirs', ifMatch: null });
    const theirFile = { ...soul, tenantId: theirs.tenant.id, agentSlug: 'bot', userId: null };
    const attempts = await inTenant(context, mine.tenant.id, null, async (trx) => {
      const plain = createPostgresMemoryStore({ db: withSubstrateTables(trx) });
      return {
        read: await plain.read(theirFile),
        replace: await failure(plain.write(theirFile, 'overwritten', { ifMatch: existing.contentHash })),
        removed: await plain.delete(theirFile),
      };
    });
    expect(attempts).toEqual({ read: { exists: false }, replace: { code: 'memory.conflict', details: expect.objectContaining({ actual: null }) }, removed: false });
    // Each insert in a transaction of its own: a refused statement ends its transaction.
    const insertAs = (tenantId: string, agentSlug: string) =>
      inTenant(context, mine.tenant.id, null, (trx) => createPostgresMemoryStore({ db: withSubstrateTables(trx) }).write({ ...soul, path: 'NEW.md', tenantId, agentSlug, userId: null }, 'x', { ifMatch: null }));
    await expect(insertAs(theirs.tenant.id, 'bot')).rejects.toMatchObject({ code: 'memory.store_failed', cause: expect.objectContaining({ message: expect.stringMatching(/row-level security/) }) });
    await expect(insertAs(mine.tenant.id, 'no-such-agent')).rejects.toMatchObject({ code: 'memory.store_failed', cause: expect.objectContaining({ message: expect.stringMatching(/row-level security/) }) });
    expect((await readAgentMemoryFile(context, theirs.admin, 'bot', soul)).content).toBe('theirs');
    expect(await database.db.selectFrom('agents_memory_files').select('path').where('path', '=', 'NEW.md').execute()).toEqual([]);
  });

  // One connection on PGlite: transactions cannot interleave there.
  describe.skipIf(database.backend !== 'postgres')('on Postgres, racing', () => {
    it('makes a save that starts while the agent is being deleted wait, then refuses it (agent.not_found) with nothing written', async () => {
      const world = await flowWorld(context, 'memory-race-delete');
      // What deleteAgent does, held open: the agent row locked, its files cleared, the row deleted.
      const code = await duringOpenChange(
        database.db,
        async (trx) => {
          await trx.selectFrom('dm_agents').select('id').where('id', '=', world.agent.id).forUpdate().execute();
          await trx.deleteFrom('agents_memory_files').where('tenant_key', '=', world.tenant.id).where('agent_slug', '=', 'bot').execute();
          await trx.deleteFrom('dm_agents').where('id', '=', world.agent.id).execute();
        },
        () => writeAgentMemoryFile(context, world.owner, 'bot', { ...soul, content: 'orphan', ifMatch: null }),
        codeOf,
      );
      expect(code).toBe('agent.not_found');
      expect(await database.db.selectFrom('agents_memory_files').select('path').where('tenant_key', '=', world.tenant.id).execute()).toEqual([]);
    });

    it('makes a save that starts while the editor\'s grant is being revoked wait, then refuses it with nothing written', async () => {
      const world = await flowWorld(context, 'memory-race-revoke');
      const code = await duringOpenChange(
        database.db,
        (trx) => trx.deleteFrom('dm_agent_grants').where('agent_id', '=', world.agent.id).where('user_id', '=', world.userIds.admin).execute(),
        () => writeAgentMemoryFile(context, world.admin, 'bot', { ...soul, content: 'revoked', ifMatch: null }),
        codeOf,
      );
      expect(code).toBe('agent.not_found');
      expect(await listAgentMemoryFiles(context, world.owner, 'bot')).toEqual([]);
    });
  });
});
