import { createMessage, type MemoryStore, type TranscriptStore } from '@data-machine/agents-api';
import { createPostgresMemoryStore, createPostgresTranscriptStore, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { grantAgentRole } from '../grants/grant-repository';
import { createJob, transitionJob } from '../jobs/job-lifecycle';
import { resolveScope, type Scope } from '../scope/scope';
import { createTenant } from '../tenants/tenant-repository';
import { installTemplate } from '../templates/template-install';
import { listChatSessions, startChatSession } from '../transcripts/chat-sessions';
import { addFlow, asEngine } from '../../test/support/engine-fixture';
import { codeOf, migratedContext, scopeOf, system, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { createAgent, deleteAgent, getAgent } from './agent-repository';

await describeEachDatabase<DataMachineDatabase & AgentsApiDatabase>('agent deletion', (database) => {
  let context: TestContext;
  let transcripts: TranscriptStore;
  let memory: MemoryStore;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    transcripts = createPostgresTranscriptStore({ db: database.db, now: () => context.now() });
    memory = createPostgresMemoryStore({ db: database.db });
  });

  /** A chat of `scope`'s user with `agentSlug`, one message long, and one memory file of the agent and one of the user. */
  async function agentData(scope: Scope, agentSlug: string): Promise<string> {
    const session = await startChatSession(context, scope, transcripts, agentSlug, { title: 'chat' });
    const owner = { userId: session.userId, tenantId: scope.tenantId };
    await transcripts.append(owner, session.id, [createMessage({ type: 'text', role: 'user', content: 'hi', payload: {} })]);
    await transcripts.beginRun(owner, session.id, { agentSlug, seqAtStart: 1 });
    const file = { layer: 'agent', tenantId: scope.tenantId, agentSlug, path: 'MEMORY.md' } as const;
    await memory.write({ ...file, userId: null }, 'what the agent knows');
    await memory.write({ ...file, userId: session.userId }, 'what it knows of this user');
    return session.id;
  }

  /** A tenant whose agent `bot` has a flow, chats by two users and memory, beside agent `keep` with the same. */
  async function world(slug: string) {
    const setup = await tenantWithMembers(context, slug, ['editor']);
    const ownerScope = await scopeOf(context, setup.owner.id, setup.tenant.id);
    const bot = await createAgent(context, ownerScope, { slug: 'bot', name: 'Bot' });
    await createAgent(context, ownerScope, { slug: 'keep', name: 'Keep' });
    await grantAgentRole(context, ownerScope, 'bot', { userId: setup.members.editor!.id, role: 'viewer' });
    const editor = await scopeOf(context, setup.members.editor!.id, setup.tenant.id);
    const { flowId } = await addFlow(context, setup.tenant.id, bot.id, 'main');
    const sessions = [await agentData(ownerScope, 'bot'), await agentData(editor, 'bot')];
    const kept = await agentData(ownerScope, 'keep');
    return { ...setup, ownerScope, editor, bot, flowId, sessions, kept };
  }

  async function substrateRows(tenantId: string, agentSlug: string) {
    const sessions = await database.db.selectFrom('agents_sessions').select('id').where('tenant_key', '=', tenantId).where('agent_slug', '=', agentSlug).execute();
    const ids = sessions.map((session) => session.id);
    const count = async (table: 'agents_session_messages' | 'agents_runs') =>
      ids.length === 0 ? 0 : (await database.db.selectFrom(table).select('session_id').where('session_id', 'in', ids).execute()).length;
    const files = await database.db.selectFrom('agents_memory_files').select('path').where('tenant_key', '=', tenantId).where('agent_slug', '=', agentSlug).execute();
    return { sessions: ids.length, messages: await count('agents_session_messages'), runs: await count('agents_runs'), memoryFiles: files.length };
  }

  describe('in one operation', () => {
    it("deletes the agent's product rows and every user's transcripts and memory, and nothing of another agent", async () => {
      const { tenant, ownerScope, bot } = await world('del-all');
      expect(await substrateRows(tenant.id, 'bot')).toEqual({ sessions: 2, messages: 2, runs: 2, memoryFiles: 3 });
      const before = await substrateRows(tenant.id, 'keep');
      expect(await deleteAgent(context, ownerScope, 'bot')).toEqual({ sessions: 2, memoryFiles: 3 });
      expect(await substrateRows(tenant.id, 'bot')).toEqual({ sessions: 0, messages: 0, runs: 0, memoryFiles: 0 });
      expect(await substrateRows(tenant.id, 'keep')).toEqual(before);
      expect(await database.db.selectFrom('dm_flows').select('id').where('agent_id', '=', bot.id).execute()).toEqual([]);
      expect(await database.db.selectFrom('dm_agent_grants').select('user_id').where('agent_id', '=', bot.id).execute()).toEqual([]);
      expect(await codeOf(getAgent(context, ownerScope, 'bot'))).toBe('agent.not_found');
    });

    it("leaves another tenant's agent of the same slug alone", async () => {
      const first = await world('del-iso-a');
      const second = await world('del-iso-b');
      const theirs = await substrateRows(second.tenant.id, 'bot');
      await deleteAgent(context, first.ownerScope, 'bot');
      expect(await substrateRows(second.tenant.id, 'bot')).toEqual(theirs);
    });

    it("gives a new agent of the old slug none of the old one's chats", async () => {
      const { ownerScope } = await world('del-reuse');
      await deleteAgent(context, ownerScope, 'bot');
      await createAgent(context, ownerScope, { slug: 'bot', name: 'Bot again' });
      expect((await listChatSessions(context, ownerScope, transcripts, 'bot', { everyUser: true })).sessions).toEqual([]);
    });
  });

  describe('refusals, nothing deleted', () => {
    it('refuses while the agent has a live job, and deletes once it ended', async () => {
      const { tenant, ownerScope, flowId } = await world('del-live');
      const { job } = await asEngine(context, tenant.id, (trx) => createJob(context, trx, { flowId, source: 'manual' }));
      const error = await deleteAgent(context, ownerScope, 'bot').catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'agent.busy', details: { agent: 'bot', jobId: job.id, status: 'pending' } });
      expect(await substrateRows(tenant.id, 'bot')).toEqual({ sessions: 2, messages: 2, runs: 2, memoryFiles: 3 });
      expect((await getAgent(context, ownerScope, 'bot')).slug).toBe('bot');
      await asEngine(context, tenant.id, (trx) => transitionJob(context, trx, job.id, { to: 'cancelled' }));
      await expect(deleteAgent(context, ownerScope, 'bot')).resolves.toEqual({ sessions: 2, memoryFiles: 3 });
    });

    it('refuses a viewer, and leaves the transcripts', async () => {
      const { tenant, editor } = await world('del-viewer');
      expect(await codeOf(deleteAgent(context, editor, 'bot'))).toBe('access.denied');
      expect((await substrateRows(tenant.id, 'bot')).sessions).toBe(2);
    });

    it('refuses a catalog template another tenant installed', async () => {
      const catalog = await createTenant(context, system, { slug: 'del-catalog', name: 'Catalog', isCatalog: true });
      const catalogScope = await resolveScope(context, system, catalog.tenant.id);
      const template = await createAgent(context, catalogScope, { slug: 'writer', name: 'Writer', ownerUserId: null });
      const { tenant, owner } = await tenantWithMembers(context, 'del-installer');
      await installTemplate(context, await scopeOf(context, owner.id, tenant.id), { templateAgentId: template.id });
      const error = await deleteAgent(context, catalogScope, 'writer').catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'agent.protected', details: { reason: 'installed_template' } });
      expect((await getAgent(context, catalogScope, 'writer')).id).toBe(template.id);
    });
  });
});
