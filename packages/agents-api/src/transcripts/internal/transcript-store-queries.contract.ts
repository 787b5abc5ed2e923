import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { NewSession, PageOptions, SessionOwner, SessionPage, TranscriptSession, TranscriptStore } from '../transcript-store';
import { assistantText, codeOf, tokenOf, userText, type TestClock } from './transcript-store-contract-support';

// The listing and deleting queries of the transcript store contract: part of
// describeTranscriptStoreContract, kept in their own file. Not public API.

/** What the contract's `beforeEach` made for the current test. */
export interface QueryContractFixture {
  readonly store: TranscriptStore;
  readonly clock: TestClock;
  /** The test's own random tenant, and `user-1` in it. */
  readonly tenantId: string;
  readonly owner: SessionOwner;
}

const idsOf = (page: SessionPage): string[] => page.sessions.map((session) => session.id);

export function describeTranscriptQueryContract(current: () => QueryContractFixture): void {
  const create = (as: SessionOwner, fields: Partial<NewSession> = {}): Promise<TranscriptSession> =>
    current().store.createSession(as, { agentSlug: 'helper', ...fields });
  /** Creates sessions one clock second apart; returns them newest first, the listing order. */
  const createSpaced = async (as: SessionOwner, count: number, fields: Partial<NewSession> = {}): Promise<TranscriptSession[]> => {
    const created: TranscriptSession[] = [];
    for (let index = 0; index < count; index += 1) {
      created.push(await create(as, { title: `session ${index}`, ...fields }));
      current().clock.advance(1000);
    }
    return created.reverse();
  };
  /** Every page from the first, calling `between` after each page but the last. */
  const walk = async (list: (options: PageOptions) => Promise<SessionPage>, limit: number, between: (pageIndex: number) => Promise<void> = async () => {}): Promise<string[][]> => {
    const pages: string[][] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await list({ limit, ...(cursor === undefined ? {} : { cursor }) });
      pages.push(idsOf(page));
      if (page.nextCursor === null) return pages;
      // A store that never ends its pages fails here rather than hanging.
      if (pages.length > 100) throw new Error('more than 100 pages: nextCursor never became null');
      cursor = page.nextCursor;
      await between(pages.length - 1);
    }
  };

  describe('paging sessions', () => {
    it('returns nextCursor null when the page holds every session', async () => {
      const { store, owner } = current();
      const sessions = await createSpaced(owner, 2);
      expect(await store.listSessions(owner, { limit: 2 })).toEqual({ sessions, nextCursor: null });
    });

    it('walks every session exactly once, newest first, page by page', async () => {
      const { store, owner } = current();
      const sessions = await createSpaced(owner, 5);
      const pages = await walk((options) => store.listSessions(owner, options), 2);
      expect(pages).toEqual([sessions.slice(0, 2), sessions.slice(2, 4), sessions.slice(4)].map((page) => page.map((session) => session.id)));
    });

    it('orders sessions updated at the same time by id, descending, and pages through the tie', async () => {
      const { store, owner } = current();
      const ids = ['ses-a', 'ses-B', 'ses-b', 'ses_c'].map((id) => `${id}-${randomUUID()}`);
      for (const id of ids) await create(owner, { id });
      const bytewiseDescending = [...ids].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
      expect((await walk((options) => store.listSessions(owner, options), 1)).flat()).toEqual(bytewiseDescending);
    });

    it('returns every session exactly once while sessions already listed are updated and new ones created between pages', async () => {
      const { store, owner, clock } = current();
      const sessions = await createSpaced(owner, 6);
      const pages = await walk(
        (options) => store.listSessions(owner, options),
        2,
        async () => {
          clock.advance(1000);
          // The newest session already listed is touched: it moves to the front, behind the walk.
          await store.append(owner, sessions[0]!.id, [userText('again')]);
          await create(owner, { title: 'created meanwhile' });
        },
      );
      expect(pages.flat()).toEqual(sessions.map((session) => session.id));
    });

    it('never returns a session twice when one not yet reached is updated; a new walk shows it first', async () => {
      const { store, owner, clock } = current();
      const sessions = await createSpaced(owner, 4);
      const oldest = sessions[3]!;
      const pages = await walk(
        (options) => store.listSessions(owner, options),
        2,
        async () => {
          clock.advance(1000);
          await store.append(owner, oldest.id, [userText('bump')]);
        },
      );
      const listed = pages.flat();
      expect(new Set(listed).size).toBe(listed.length);
      expect(listed.slice(0, 3)).toEqual(sessions.slice(0, 3).map((session) => session.id));
      expect(idsOf(await store.listSessions(owner, { limit: 1 }))).toEqual([oldest.id]);
    });

    it('pages within the agent filter', async () => {
      const { store, owner } = current();
      const writers = await createSpaced(owner, 3, { agentSlug: 'writer' });
      await createSpaced(owner, 2);
      const pages = await walk((options) => store.listSessions(owner, { ...options, agentSlug: 'writer' }), 2);
      expect(pages.flat()).toEqual(writers.map((session) => session.id));
    });

    it('accepts limit 500, and returns at most limit sessions with a cursor for the rest', async () => {
      const { store, owner } = current();
      await createSpaced(owner, 3);
      expect((await store.listSessions(owner, { limit: 500 })).sessions).toHaveLength(3);
      const first = await store.listSessions(owner, { limit: 2 });
      expect(first.sessions).toHaveLength(2);
      expect(first.nextCursor).toEqual(expect.any(String));
    });

    it.each([
      ['an empty string', ''],
      ['text that is not base64url', 'not a cursor!'],
      ['base64url of something that is not a cursor', Buffer.from('{"after":1}').toString('base64url')],
      ['a cursor with a session id no store makes', Buffer.from(JSON.stringify([0, 'has spaces'])).toString('base64url')],
    ])('refuses %s as a cursor with transcript.invalid_request', async (_, cursor) => {
      const { store, owner, tenantId } = current();
      expect(await codeOf(store.listSessions(owner, { cursor }))).toBe('transcript.invalid_request');
      expect(await codeOf(store.listAgentSessions(tenantId, 'helper', { cursor }))).toBe('transcript.invalid_request');
    });

    it('refuses a cursor that was edited with transcript.invalid_request', async () => {
      const { store, owner } = current();
      await createSpaced(owner, 2);
      const { nextCursor } = await store.listSessions(owner, { limit: 1 });
      expect(await codeOf(store.listSessions(owner, { cursor: `${nextCursor}x` }))).toBe('transcript.invalid_request');
      expect(await codeOf(store.listSessions(owner, { cursor: `=${nextCursor}` }))).toBe('transcript.invalid_request');
    });
  });

  describe("listing an agent's sessions for its admins", () => {
    it("lists the sessions of every user of the tenant, and of no user, for that agent only", async () => {
      const { store, owner, tenantId } = current();
      const mine = await create(owner);
      current().clock.advance(1000);
      const theirs = await create({ userId: 'user-2', tenantId });
      current().clock.advance(1000);
      const nobodys = await create({ userId: null, tenantId });
      await create(owner, { agentSlug: 'writer' });
      expect(idsOf(await store.listAgentSessions(tenantId, 'helper'))).toEqual([nobodys.id, theirs.id, mine.id]);
    });

    it('pages through the sessions with the same cursors as listSessions', async () => {
      const { store, tenantId } = current();
      const expected: string[] = [];
      for (const userId of ['user-1', 'user-2', 'user-3']) expected.unshift(...(await createSpaced({ userId, tenantId }, 1)).map((session) => session.id));
      expect(await walk((options) => store.listAgentSessions(tenantId, 'helper', options), 2)).toEqual([expected.slice(0, 2), expected.slice(2)]);
    });

    it('lists for a null tenant only the sessions of no tenant', async () => {
      const { store, tenantId } = current();
      // A slug of this test's own: sessions of no tenant are shared by every test on one database.
      const agentSlug = `agent-${randomUUID()}`;
      const noTenant = await create({ userId: 'user-1', tenantId: null }, { agentSlug });
      await create({ userId: 'user-1', tenantId }, { agentSlug });
      expect(idsOf(await store.listAgentSessions(null, agentSlug))).toEqual([noTenant.id]);
    });

    it.each([
      ['an invalid agent slug', (store: TranscriptStore, tenantId: string) => store.listAgentSessions(tenantId, 'Not A Slug!')],
      ['an empty tenant id', (store: TranscriptStore) => store.listAgentSessions('', 'helper')],
      ['limit 0', (store: TranscriptStore, tenantId: string) => store.listAgentSessions(tenantId, 'helper', { limit: 0 })],
      ['limit 501', (store: TranscriptStore, tenantId: string) => store.listAgentSessions(tenantId, 'helper', { limit: 501 })],
    ])('refuses %s with transcript.invalid_request', async (_, list) => {
      const { store, tenantId } = current();
      expect(await codeOf(list(store, tenantId))).toBe('transcript.invalid_request');
    });
  });

  describe('tenant isolation', () => {
    /** Two tenants alike: the same two users, agent slug and titles, each session with a message. */
    const twoTenants = async () => {
      const { tenantId } = current();
      const other = `other-${randomUUID()}`;
      const sessions = new Map<string, TranscriptSession>();
      for (const tenant of [tenantId, other]) {
        for (const userId of ['user-1', 'user-2']) {
          const session = await create({ userId, tenantId: tenant }, { title: `plans of ${userId}` });
          await current().store.append({ userId, tenantId: tenant }, session.id, [userText('hi'), assistantText('hello')]);
          sessions.set(`${tenant}/${userId}`, session);
        }
      }
      const idOf = (tenant: string, userId: string): string => sessions.get(`${tenant}/${userId}`)!.id;
      return { here: tenantId, other, idOf };
    };
    const exists = (tenant: string, userId: string, id: string) => current().store.getSession({ userId, tenantId: tenant }, id).then((session) => session !== undefined);

    it("never lists or reads another tenant's sessions", async () => {
      const { store } = current();
      const { here, other, idOf } = await twoTenants();
      expect(idsOf(await store.listSessions({ userId: 'user-1', tenantId: here }))).toEqual([idOf(here, 'user-1')]);
      expect(idsOf(await store.listAgentSessions(here, 'helper')).sort()).toEqual([idOf(here, 'user-1'), idOf(here, 'user-2')].sort());
      expect(await store.getSession({ userId: 'user-1', tenantId: here }, idOf(other, 'user-1'))).toBeUndefined();
      expect(await codeOf(store.loadMessages({ userId: 'user-1', tenantId: here }, idOf(other, 'user-1')))).toBe('transcript.session_not_found');
    });

    it("never deletes another tenant's session by id", async () => {
      const { store } = current();
      const { here, other, idOf } = await twoTenants();
      expect(await store.deleteSession({ userId: 'user-1', tenantId: here }, idOf(other, 'user-1'))).toBe(false);
      expect(await exists(other, 'user-1', idOf(other, 'user-1'))).toBe(true);
    });

    it("deletes one user's data in one tenant only", async () => {
      const { store } = current();
      const { here, other, idOf } = await twoTenants();
      expect(await store.deleteUserData(here, 'user-1')).toEqual({ sessions: 1, messages: 2 });
      expect(await exists(here, 'user-1', idOf(here, 'user-1'))).toBe(false);
      expect(await exists(here, 'user-2', idOf(here, 'user-2'))).toBe(true);
      expect(await exists(other, 'user-1', idOf(other, 'user-1'))).toBe(true);
      expect(await store.loadMessages({ userId: 'user-1', tenantId: other }, idOf(other, 'user-1'))).toHaveLength(2);
    });

    it("deletes the old sessions of one tenant only", async () => {
      const { store, clock } = current();
      const { here, other, idOf } = await twoTenants();
      clock.advance(1000);
      expect(await store.deleteSessionsBefore({ tenantId: here, before: clock.now(), limit: 10 })).toBe(2);
      expect(idsOf(await store.listAgentSessions(here, 'helper'))).toEqual([]);
      expect(idsOf(await store.listAgentSessions(other, 'helper')).sort()).toEqual([idOf(other, 'user-1'), idOf(other, 'user-2')].sort());
    });
  });

  describe("deleting a user's data", () => {
    it('deletes every session of the user in the tenant with its messages, across agents, and counts them', async () => {
      const { store, owner } = current();
      const helper = await create(owner);
      const writer = await create(owner, { agentSlug: 'writer' });
      await store.append(owner, helper.id, [userText('a'), assistantText('b')]);
      await store.append(owner, writer.id, [userText('c')]);
      expect(await store.deleteUserData(owner.tenantId, 'user-1')).toEqual({ sessions: 2, messages: 3 });
      expect((await store.listSessions(owner)).sessions).toEqual([]);
      // The ids are free again and start empty: the messages went too.
      await create(owner, { id: helper.id });
      expect(await store.loadMessages(owner, helper.id)).toEqual([]);
    });

    it('deletes a session being run too: erasure does not wait for a lock', async () => {
      const { store, owner } = current();
      const { id } = await create(owner);
      tokenOf(await store.acquireLock(owner, id, 60_000));
      expect(await store.deleteUserData(owner.tenantId, 'user-1')).toEqual({ sessions: 1, messages: 0 });
      expect(await store.getSession(owner, id)).toBeUndefined();
    });

    it('leaves the sessions of no user, and of the same user in no tenant, alone', async () => {
      const { store, owner, tenantId } = current();
      const noUser = await create({ userId: null, tenantId });
      const noTenant = await create({ userId: 'user-1', tenantId: null });
      await create(owner);
      expect(await store.deleteUserData(tenantId, 'user-1')).toEqual({ sessions: 1, messages: 0 });
      expect(await store.getSession({ userId: null, tenantId }, noUser.id)).toBeDefined();
      expect(await store.getSession({ userId: 'user-1', tenantId: null }, noTenant.id)).toBeDefined();
    });

    it('resolves zero counts when the user has nothing', async () => {
      const { store, tenantId } = current();
      expect(await store.deleteUserData(tenantId, 'nobody')).toEqual({ sessions: 0, messages: 0 });
    });

    it.each([
      // @ts-expect-error a user id is a string; JavaScript may pass null
      ['a null user', (store: TranscriptStore, tenantId: string) => store.deleteUserData(tenantId, null)],
      ['an empty user id', (store: TranscriptStore, tenantId: string) => store.deleteUserData(tenantId, '')],
      ['an empty tenant id', (store: TranscriptStore) => store.deleteUserData('', 'user-1')],
    ])('refuses %s with transcript.invalid_request', async (_, erase) => {
      const { store, tenantId } = current();
      expect(await codeOf(erase(store, tenantId))).toBe('transcript.invalid_request');
    });
  });

  describe('deleting sessions before a time, in batches', () => {
    it('deletes the sessions last updated before the time, oldest first, at most limit per call, until it resolves 0', async () => {
      const { store, owner, clock, tenantId } = current();
      const sessions = await createSpaced(owner, 5);
      const before = clock.now();
      clock.advance(1000);
      const recent = await create(owner);
      const oldestFirst = [...sessions].reverse();
      expect(await store.deleteSessionsBefore({ tenantId, before, limit: 2 })).toBe(2);
      expect(await store.getSession(owner, oldestFirst[0]!.id)).toBeUndefined();
      expect(await store.getSession(owner, oldestFirst[2]!.id)).toBeDefined();
      expect(await store.deleteSessionsBefore({ tenantId, before, limit: 2 })).toBe(2);
      expect(await store.deleteSessionsBefore({ tenantId, before, limit: 2 })).toBe(1);
      expect(await store.deleteSessionsBefore({ tenantId, before, limit: 2 })).toBe(0);
      expect(idsOf(await store.listSessions(owner))).toEqual([recent.id]);
    });

    it('goes by last activity: a session appended to since is kept', async () => {
      const { store, owner, clock, tenantId } = current();
      const old = await create(owner);
      clock.advance(10_000);
      await store.append(owner, old.id, [userText('still here')]);
      expect(await store.deleteSessionsBefore({ tenantId, before: new Date(clock.now().getTime() - 5000) })).toBe(0);
      expect(await store.getSession(owner, old.id)).toBeDefined();
    });

    it('deletes the messages with their session', async () => {
      const { store, owner, clock, tenantId } = current();
      const { id } = await create(owner);
      await store.append(owner, id, [userText('a'), assistantText('b')]);
      clock.advance(1000);
      expect(await store.deleteSessionsBefore({ tenantId, before: clock.now() })).toBe(1);
      await create(owner, { id });
      expect(await store.loadMessages(owner, id)).toEqual([]);
    });

    it('skips a session whose lock is held, and deletes it once the lock has expired', async () => {
      const { store, owner, clock, tenantId } = current();
      const running = await create(owner);
      const idle = await create(owner);
      tokenOf(await store.acquireLock(owner, running.id, 60_000));
      clock.advance(1000);
      expect(await store.deleteSessionsBefore({ tenantId, before: clock.now() })).toBe(1);
      expect(await store.getSession(owner, idle.id)).toBeUndefined();
      expect(await store.getSession(owner, running.id)).toBeDefined();
      clock.advance(60_000);
      expect(await store.deleteSessionsBefore({ tenantId, before: clock.now() })).toBe(1);
      expect(await store.getSession(owner, running.id)).toBeUndefined();
    });

    it('deletes a session whose lock was released', async () => {
      const { store, owner, clock, tenantId } = current();
      const { id } = await create(owner);
      await store.releaseLock(owner, id, tokenOf(await store.acquireLock(owner, id, 60_000)));
      clock.advance(1000);
      expect(await store.deleteSessionsBefore({ tenantId, before: clock.now() })).toBe(1);
    });

    it.each([
      ['limit 0', { limit: 0 }],
      ['limit 1001', { limit: 1001 }],
      ['an invalid date', { before: new Date(Number.NaN) }],
      ['a time that is not a Date', { before: '2030-01-01' }],
      ['no tenantId', { tenantId: undefined }],
    ])('refuses %s with transcript.invalid_request', async (_, overrides) => {
      const { store, clock, tenantId } = current();
      const options = { tenantId, before: clock.now(), limit: 10, ...overrides };
      // @ts-expect-error some of these options are of types the signature refuses, as JavaScript may pass them
      expect(await codeOf(store.deleteSessionsBefore(options))).toBe('transcript.invalid_request');
    });
  });
}
