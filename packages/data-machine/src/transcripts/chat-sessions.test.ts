import { createMessage, type TranscriptStore } from '@data-machine/agents-api';
import { createPostgresTranscriptStore, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { grantAgentRole } from '../grants/grant-repository';
import type { Scope } from '../scope/scope';
import { codeOf, migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { deleteChatSession, getChatSession, listChatSessions, renameChatSession, startChatSession } from './chat-sessions';

const hello = (content: string) => createMessage({ type: 'text', role: 'user', content, payload: {} });

await describeEachDatabase<DataMachineDatabase & AgentsApiDatabase>('chat sessions', (database) => {
  let context: TestContext;
  let store: TranscriptStore;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    store = createPostgresTranscriptStore({ db: database.db, now: () => context.now() });
  });

  /** A tenant whose agent `bot` two editors chat with, one of them its admin, and whose subscriber only views. */
  async function chatTenant(slug: string) {
    const setup = await tenantWithMembers(context, slug, ['editor', 'author']);
    const ownerScope = await scopeOf(context, setup.owner.id, setup.tenant.id);
    await createAgent(context, ownerScope, { slug: 'bot', name: 'Bot' });
    await grantAgentRole(context, ownerScope, 'bot', { userId: setup.members.editor!.id, role: 'admin' });
    await grantAgentRole(context, ownerScope, 'bot', { userId: setup.members.author!.id, role: 'viewer' });
    const admin = await scopeOf(context, setup.members.editor!.id, setup.tenant.id);
    const user = await scopeOf(context, setup.members.author!.id, setup.tenant.id);
    return { ...setup, ownerScope, admin, user };
  }

  async function sessionWithMessage(scope: Scope, title: string) {
    const session = await startChatSession(context, scope, store, 'bot', { title });
    const userId = scope.actor.kind === 'system' ? null : scope.actor.userId;
    await store.append({ userId, tenantId: scope.tenantId }, session.id, [hello(`${title}: hi`)]);
    return session;
  }

  describe('identity', () => {
    it('writes the authenticated user and tenant onto the session and every message', async () => {
      const { tenant, user, members } = await chatTenant('chat-identity');
      const session = await sessionWithMessage(user, 'mine');
      expect(session).toMatchObject({ userId: members.author!.id, tenantId: tenant.id, agentSlug: 'bot', title: 'mine' });
      const { messages } = await getChatSession(context, user, store, 'bot', session.id);
      expect(messages.map((message) => [message.userId, message.tenantId])).toEqual([[members.author!.id, tenant.id]]);
    });

    it('refuses input that names a user, and writes nothing', async () => {
      const { user, admin, members } = await chatTenant('chat-override');
      const error = await startChatSession(context, user, store, 'bot', { title: 'as admin', userId: members.editor!.id } as never).catch((caught: unknown) => caught);
      expect(DataMachineError.isInstance(error) && error.code).toBe('input.invalid');
      expect((await listChatSessions(context, admin, store, 'bot', { everyUser: true })).sessions).toEqual([]);
    });

    it('needs a role on the agent to start one, and writes nothing without', async () => {
      const { tenant, owner, members } = await tenantWithMembers(context, 'chat-no-grant', ['editor']);
      const ownerScope = await scopeOf(context, owner.id, tenant.id);
      await createAgent(context, ownerScope, { slug: 'bot', name: 'Bot' });
      const editor = await scopeOf(context, members.editor!.id, tenant.id);
      expect(await codeOf(startChatSession(context, editor, store, 'bot'))).toBe('agent.not_found');
      expect((await listChatSessions(context, ownerScope, store, 'bot', { everyUser: true })).sessions).toEqual([]);
    });
  });

  describe('same tenant, another user', () => {
    it("lists only the acting user's own sessions", async () => {
      const { user, admin } = await chatTenant('chat-own');
      const mine = await sessionWithMessage(user, 'mine');
      await sessionWithMessage(admin, 'theirs');
      expect((await listChatSessions(context, user, store, 'bot')).sessions.map((session) => session.id)).toEqual([mine.id]);
    });

    it("reports another user's session exactly as a missing one", async () => {
      const { user, admin } = await chatTenant('chat-other');
      const theirs = await sessionWithMessage(admin, 'theirs');
      const asOwn = (await getChatSession(context, user, store, 'bot', theirs.id).catch((caught: unknown) => caught)) as DataMachineError;
      const named = (await getChatSession(context, user, store, 'bot', theirs.id, { userId: theirs.userId! }).catch((caught: unknown) => caught)) as DataMachineError;
      const missing = (await getChatSession(context, user, store, 'bot', 'ses_missing').catch((caught: unknown) => caught)) as DataMachineError;
      for (const error of [asOwn, named, missing]) expect(error.code).toBe('session.not_found');
      expect(Object.keys(named.details ?? {})).toEqual(Object.keys(missing.details ?? {}));
    });

    it("never lists every user's sessions for a member who is not the agent's admin", async () => {
      const { user } = await chatTenant('chat-every');
      expect(await codeOf(listChatSessions(context, user, store, 'bot', { everyUser: true }))).toBe('access.denied');
    });

    it("neither renames nor deletes another user's session", async () => {
      const { user, admin } = await chatTenant('chat-touch');
      const theirs = await sessionWithMessage(admin, 'theirs');
      expect(await codeOf(renameChatSession(context, user, store, 'bot', theirs.id, 'taken'))).toBe('session.not_found');
      expect(await codeOf(deleteChatSession(context, user, store, 'bot', theirs.id))).toBe('session.not_found');
      expect((await getChatSession(context, admin, store, 'bot', theirs.id)).session.title).toBe('theirs');
    });
  });

  describe("the agent's admins", () => {
    it("list and read every user's sessions with their agent", async () => {
      const { user, admin, members } = await chatTenant('chat-admin');
      const mine = await sessionWithMessage(user, 'mine');
      const theirs = await sessionWithMessage(admin, 'theirs');
      const listed = await listChatSessions(context, admin, store, 'bot', { everyUser: true });
      expect(listed.sessions.map((session) => session.id).sort()).toEqual([mine.id, theirs.id].sort());
      const read = await getChatSession(context, admin, store, 'bot', mine.id, { userId: members.author!.id });
      expect(read.messages.map((message) => message.message.type === 'text' && message.message.content)).toEqual(['mine: hi']);
    });

    it("never see another agent's session through theirs", async () => {
      const { admin, ownerScope, members, tenant } = await chatTenant('chat-agents');
      await createAgent(context, ownerScope, { slug: 'other', name: 'Other' });
      await grantAgentRole(context, ownerScope, 'other', { userId: members.author!.id, role: 'viewer' });
      const userNow = await scopeOf(context, members.author!.id, tenant.id);
      const elsewhere = await startChatSession(context, userNow, store, 'other');
      expect(await codeOf(getChatSession(context, admin, store, 'bot', elsewhere.id, { userId: elsewhere.userId! }))).toBe('session.not_found');
      expect(await codeOf(getChatSession(context, userNow, store, 'bot', elsewhere.id))).toBe('session.not_found');
    });
  });

  describe('other tenants', () => {
    it("never show a session of another tenant, even to that tenant's owner naming its user", async () => {
      const first = await chatTenant('chat-iso-a');
      const second = await chatTenant('chat-iso-b');
      const inFirst = await sessionWithMessage(first.user, 'private');
      // The same agent slug and the same user id, asked in the other tenant.
      expect(await codeOf(getChatSession(context, second.ownerScope, store, 'bot', inFirst.id, { userId: inFirst.userId! }))).toBe('session.not_found');
      expect((await listChatSessions(context, second.ownerScope, store, 'bot', { everyUser: true })).sessions).toEqual([]);
      // Claiming the first tenant as scope does not help: not a member there.
      const claimed = await scopeOf(context, second.owner.id, first.tenant.id);
      expect(await codeOf(getChatSession(context, claimed, store, 'bot', inFirst.id, { userId: inFirst.userId! }))).toBe('agent.not_found');
      expect(await codeOf(listChatSessions(context, claimed, store, 'bot', { everyUser: true }))).toBe('agent.not_found');
    });
  });

  describe('bad input', () => {
    it('pages through the own sessions, and refuses a malformed cursor or title as input', async () => {
      const { user } = await chatTenant('chat-pages');
      const first = await sessionWithMessage(user, 'one');
      context.setNow(new Date(context.now().getTime() + 1000));
      const second = await sessionWithMessage(user, 'two');
      const page = await listChatSessions(context, user, store, 'bot', { limit: 1 });
      expect(page.sessions.map((session) => session.id)).toEqual([second.id]);
      const next = await listChatSessions(context, user, store, 'bot', { limit: 1, cursor: page.nextCursor! });
      expect(next.sessions.map((session) => session.id)).toEqual([first.id]);
      expect(await codeOf(listChatSessions(context, user, store, 'bot', { cursor: 'not-a-cursor' }))).toBe('input.invalid');
      expect(await codeOf(renameChatSession(context, user, store, 'bot', first.id, 'x'.repeat(501)))).toBe('input.invalid');
      expect((await getChatSession(context, user, store, 'bot', first.id)).session.title).toBe('one');
    });
  });

  describe('rename and delete', () => {
    it('renames and deletes the acting user’s own session', async () => {
      const { user } = await chatTenant('chat-rename');
      const session = await sessionWithMessage(user, 'draft');
      expect((await renameChatSession(context, user, store, 'bot', session.id, 'final')).title).toBe('final');
      expect((await getChatSession(context, user, store, 'bot', session.id)).session.title).toBe('final');
      await deleteChatSession(context, user, store, 'bot', session.id);
      expect(await codeOf(getChatSession(context, user, store, 'bot', session.id))).toBe('session.not_found');
      expect(await codeOf(deleteChatSession(context, user, store, 'bot', session.id))).toBe('session.not_found');
    });

    it('refuses a rename while a run holds the session', async () => {
      const { user } = await chatTenant('chat-busy');
      const session = await sessionWithMessage(user, 'running');
      const owner = { userId: session.userId, tenantId: session.tenantId };
      const lock = await store.acquireLock(owner, session.id, 60_000);
      expect(lock.acquired).toBe(true);
      expect(await codeOf(renameChatSession(context, user, store, 'bot', session.id, 'mid-run'))).toBe('session.busy');
    });
  });
});
