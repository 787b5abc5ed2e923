import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createMessage, type AgentMessage } from '../messages/message';
import {
  assistantText,
  codeOf,
  createTestClock,
  foreignMessage,
  messageOfType,
  orphanResults,
  roundsWithTools,
  strangers,
  tokenOf,
  userText,
  type TestClock,
} from './internal/transcript-store-contract-support';
import { describeOpenSessionContract } from './internal/transcript-store-opening.contract';
import { describeTranscriptQueryContract } from './internal/transcript-store-queries.contract';
import type { NewSession, SessionOwner, TranscriptSession, TranscriptStore } from './transcript-store';

/** What {@link describeTranscriptStoreContract} hands to `open` for each test. */
export interface TranscriptStoreContractContext {
  /** The test's clock: the store must take timestamps and lock expiry from it. */
  readonly now: () => Date;
}

/**
 * The behaviour every {@link TranscriptStore} must have, as a vitest suite.
 * `open` is called once per test with that test's clock; each test uses its
 * own random tenant, so stores sharing one database stay independent.
 *
 * @example
 * describeTranscriptStoreContract('my transcript store', ({ now }) => createMyTranscriptStore({ now }));
 */
export function describeTranscriptStoreContract(
  name: string,
  open: (context: TranscriptStoreContractContext) => TranscriptStore | Promise<TranscriptStore>,
): void {
  describe(name, () => {
    let store: TranscriptStore;
    let clock: TestClock;
    let tenantId: string;
    let owner: SessionOwner;
    const ownerWith = (overrides: Partial<SessionOwner>): SessionOwner => ({ ...owner, ...overrides });
    const create = (as: SessionOwner = owner, fields: Partial<NewSession> = {}): Promise<TranscriptSession> =>
      store.createSession(as, { agentSlug: 'helper', ...fields });
    const seqsOf = async (sessionId: string, as: SessionOwner = owner): Promise<number[]> =>
      (await store.loadMessages(as, sessionId)).map((stored) => stored.seq);
    const messagesOf = async (sessionId: string, as: SessionOwner = owner): Promise<AgentMessage[]> =>
      (await store.loadMessages(as, sessionId)).map((stored) => stored.message);

    beforeEach(async () => {
      clock = createTestClock();
      tenantId = randomUUID();
      owner = { userId: 'user-1', tenantId };
      store = await open({ now: clock.now });
    });

    describe('creating sessions', () => {
      it('generates an id and starts with no title, empty metadata, lastSeq 0 and the clock time', async () => {
        const session = await create();
        expect(session).toEqual({
          id: expect.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
          agentSlug: 'helper',
          userId: 'user-1',
          tenantId,
          title: null,
          metadata: {},
          lastSeq: 0,
          createdAt: clock.now(),
          updatedAt: clock.now(),
        });
      });

      it('generates a different id for each session', async () => {
        expect((await create()).id).not.toBe((await create()).id);
      });

      it('keeps the id, title and metadata the caller gives', async () => {
        const id = `ses-${randomUUID()}`;
        const session = await create(owner, { id, title: 'Plans', metadata: { topic: 'travel', nested: { days: 3 } } });
        expect(session).toMatchObject({ id, title: 'Plans', metadata: { topic: 'travel', nested: { days: 3 } } });
        expect(await store.getSession(owner, id)).toEqual(session);
      });

      it('refuses an id the owner already uses with transcript.session_exists', async () => {
        const { id } = await create();
        expect(await codeOf(create(owner, { id }))).toBe('transcript.session_exists');
      });

      it("refuses an id another owner uses and leaves that owner's session unchanged", async () => {
        const theirs = await create(owner, { title: 'theirs' });
        expect(await codeOf(create(ownerWith({ userId: 'user-2' }), { id: theirs.id, title: 'mine now' }))).toBe('transcript.session_exists');
        expect(await store.getSession(owner, theirs.id)).toEqual(theirs);
      });

      it.each([
        ['an invalid agent slug', { agentSlug: 'Not A Slug!' }],
        ['an invalid id', { agentSlug: 'helper', id: 'has spaces' }],
        ['a title over 500 characters', { agentSlug: 'helper', title: 'x'.repeat(501) }],
      ])('refuses %s with transcript.invalid_request', async (_, session) => {
        expect(await codeOf(store.createSession(owner, session))).toBe('transcript.invalid_request');
      });

      it('refuses an owner with an empty id with transcript.invalid_request', async () => {
        expect(await codeOf(create(ownerWith({ userId: '' })))).toBe('transcript.invalid_request');
      });
    });

    describe('scoping by owner', () => {
      it('reads a missing session as undefined', async () => {
        expect(await store.getSession(owner, `ses-${randomUUID()}`)).toBeUndefined();
      });

      it.each(strangers)('hides a session from %s exactly as from a missing one', async (_, overrides) => {
        const { id } = await create();
        const stranger = ownerWith(overrides);
        expect(await store.getSession(stranger, id)).toBeUndefined();
        expect(await codeOf(store.loadMessages(stranger, id))).toBe('transcript.session_not_found');
      });

      it('does not let a caller with a user read or append to a session created with no user', async () => {
        const noUser = ownerWith({ userId: null });
        const { id } = await create(noUser);
        expect(await store.getSession(owner, id)).toBeUndefined();
        expect(await codeOf(store.append(owner, id, [userText('mine now')]))).toBe('transcript.session_not_found');
        expect(await store.getSession(noUser, id)).toMatchObject({ userId: null, tenantId, lastSeq: 0 });
      });

      it("does not let a caller with no user read or append to a user's session", async () => {
        const { id } = await create();
        const noUser = ownerWith({ userId: null });
        expect(await store.getSession(noUser, id)).toBeUndefined();
        expect(await codeOf(store.append(noUser, id, [userText('mine now')]))).toBe('transcript.session_not_found');
        expect(await store.getSession(owner, id)).toMatchObject({ userId: 'user-1', lastSeq: 0 });
      });

      it("refuses another owner's append and update, and keeps the session's owner and title", async () => {
        const session = await create(owner, { title: 'original' });
        const intruder = ownerWith({ userId: 'user-2' });
        expect(await codeOf(store.append(intruder, session.id, [userText('hi')], { title: 'taken', metadata: { owner: 'user-2' } }))).toBe('transcript.session_not_found');
        expect(await store.getSession(owner, session.id)).toEqual(session);
        expect((await store.listSessions(intruder)).sessions).toEqual([]);
      });

      it("copies the creator's user and tenant onto every stored message", async () => {
        const { id } = await create();
        await store.append(owner, id, [userText('a'), assistantText('b')]);
        await store.append(owner, id, [userText('c')]);
        const stored = await store.loadMessages(owner, id);
        expect(stored.map(({ sessionId, userId, tenantId: tenant }) => ({ sessionId, userId, tenantId: tenant }))).toEqual(Array(3).fill({ sessionId: id, userId: 'user-1', tenantId }));
      });

      it('copies a null user onto the messages of a session with no user', async () => {
        const noUser = ownerWith({ userId: null });
        const { id } = await create(noUser);
        await store.append(noUser, id, [userText('a')]);
        expect(await store.loadMessages(noUser, id)).toMatchObject([{ userId: null, tenantId }]);
      });

      it('throws transcript.session_not_found for every operation on a missing session', async () => {
        const id = `ses-${randomUUID()}`;
        expect(await codeOf(store.append(owner, id, []))).toBe('transcript.session_not_found');
        expect(await codeOf(store.loadMessages(owner, id))).toBe('transcript.session_not_found');
        expect(await codeOf(store.prune(owner, id, { keepRounds: 1 }))).toBe('transcript.session_not_found');
        expect(await codeOf(store.acquireLock(owner, id, 1000))).toBe('transcript.session_not_found');
        expect(await codeOf(store.releaseLock(owner, id, 'token'))).toBe('transcript.session_not_found');
      });

      it('hands out copies: mutating a returned session or message changes nothing stored', async () => {
        const session = await create(owner, { metadata: { tags: ['a'] } });
        await store.append(owner, session.id, [userText('original')]);
        (session.metadata.tags as string[]).push('b');
        const [stored] = await store.loadMessages(owner, session.id);
        (stored!.message as { content: string }).content = 'changed';
        expect((await store.getSession(owner, session.id))?.metadata).toEqual({ tags: ['a'] });
        expect((await messagesOf(session.id))[0]?.content).toBe('original');
      });
    });

    describe('listing sessions', () => {
      it("lists only the owner's sessions, newest updatedAt first", async () => {
        const older = await create();
        clock.advance(1000);
        const newer = await create();
        await create(ownerWith({ userId: 'user-2' }));
        clock.advance(1000);
        await store.append(owner, older.id, []);
        expect((await store.listSessions(owner)).sessions.map((session) => session.id)).toEqual([older.id, newer.id]);
      });

      it('shows the same user id in two tenants only the sessions of each tenant', async () => {
        const otherTenant = ownerWith({ tenantId: randomUUID() });
        const here = await create();
        const there = await create(otherTenant);
        expect((await store.listSessions(owner)).sessions.map((session) => session.id)).toEqual([here.id]);
        expect((await store.listSessions(otherTenant)).sessions.map((session) => session.id)).toEqual([there.id]);
      });

      it("keeps a null user's sessions apart from the tenant's users", async () => {
        const noUser = ownerWith({ userId: null });
        const anonymous = await create(noUser);
        const mine = await create();
        expect((await store.listSessions(noUser)).sessions.map((session) => session.id)).toEqual([anonymous.id]);
        expect((await store.listSessions(owner)).sessions.map((session) => session.id)).toEqual([mine.id]);
      });

      it('filters by agent slug', async () => {
        await create(owner, { agentSlug: 'helper' });
        const writer = await create(owner, { agentSlug: 'writer' });
        expect((await store.listSessions(owner, { agentSlug: 'writer' })).sessions.map((session) => session.id)).toEqual([writer.id]);
      });

      it('returns at most limit sessions, the newest', async () => {
        for (let index = 0; index < 3; index += 1) {
          await create(owner, { title: `session ${index}` });
          clock.advance(1000);
        }
        expect((await store.listSessions(owner, { limit: 2 })).sessions.map((session) => session.title)).toEqual(['session 2', 'session 1']);
      });

      it.each([0, 501, 1.5])('refuses limit %s with transcript.invalid_request', async (limit) => {
        expect(await codeOf(store.listSessions(owner, { limit }))).toBe('transcript.invalid_request');
      });
    });

    describe('appending', () => {
      it('numbers messages 1, 2, 3… across appends and stores them as given', async () => {
        const { id } = await create();
        const first = [userText('a'), assistantText('b')];
        const second = [userText('c')];
        expect((await store.append(owner, id, first)).seqs).toEqual([1, 2]);
        expect((await store.append(owner, id, second)).seqs).toEqual([3]);
        expect(await seqsOf(id)).toEqual([1, 2, 3]);
        expect(await messagesOf(id)).toEqual([...first, ...second]);
      });

      it('keeps sequence numbers contiguous and unique under 25 parallel appends', async () => {
        const { id } = await create();
        const batches = Array.from({ length: 25 }, (_, caller) => Array.from({ length: 1 + (caller % 3) }, (__, index) => userText(`caller ${caller} message ${index}`)));
        const total = batches.reduce((sum, batch) => sum + batch.length, 0);
        const results = await Promise.all(batches.map((batch) => store.append(owner, id, batch)));
        expect(results.flatMap((result) => result.seqs).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, index) => index + 1));
        const stored = await store.loadMessages(owner, id);
        expect(stored.map((entry) => entry.seq)).toEqual(Array.from({ length: total }, (_, index) => index + 1));
        // Each batch got its own consecutive range, in order.
        const bySeq = new Map(stored.map((entry) => [entry.seq, entry.message.id]));
        results.forEach((result, caller) => {
          expect(result.seqs.map((seq) => bySeq.get(seq))).toEqual(batches[caller]!.map((message) => message.id));
        });
        expect((await store.getSession(owner, id))?.lastSeq).toBe(total);
      });

      it('updates updatedAt, lastSeq, title and metadata in the same append', async () => {
        const session = await create(owner, { title: 'old', metadata: { a: 1 } });
        clock.advance(5000);
        const { session: updated } = await store.append(owner, session.id, [userText('hi')], { title: 'new', metadata: { b: 2 } });
        const expected = { ...session, title: 'new', metadata: { b: 2 }, lastSeq: 1, updatedAt: clock.now() };
        expect(updated).toEqual(expected);
        expect(await store.getSession(owner, session.id)).toEqual(expected);
      });

      it('accepts an empty batch, which only updates the session', async () => {
        const session = await create();
        clock.advance(5000);
        const result = await store.append(owner, session.id, [], { title: 'renamed' });
        expect(result).toEqual({ session: { ...session, title: 'renamed', updatedAt: clock.now() }, seqs: [] });
        expect(await store.loadMessages(owner, session.id)).toEqual([]);
      });

      it('stores nothing when one message of the batch is invalid', async () => {
        const session = await create();
        await store.append(owner, session.id, [userText('kept')]);
        const invalid = foreignMessage();
        expect(await codeOf(store.append(owner, session.id, [userText('a'), invalid, userText('b')], { title: 'changed' }))).toBe('transcript.invalid_request');
        expect(await seqsOf(session.id)).toEqual([1]);
        expect(await store.getSession(owner, session.id)).toMatchObject({ lastSeq: 1, title: null });
      });

      // Streamed text is an event, never a message: a `delta` (or any type the envelope lacks) is refused.
      it.each(['delta', 'final_result', 'error'])('refuses a message of type %s, which the envelope does not have, with transcript.invalid_request and stores nothing', async (type) => {
        const { id } = await create();
        expect(await codeOf(store.append(owner, id, [userText('a'), messageOfType(type)]))).toBe('transcript.invalid_request');
        expect(await seqsOf(id)).toEqual([]);
        expect((await store.getSession(owner, id))?.lastSeq).toBe(0);
      });

      it('refuses an invalid update with transcript.invalid_request', async () => {
        const { id } = await create();
        expect(await codeOf(store.append(owner, id, [], { title: 'x'.repeat(501) }))).toBe('transcript.invalid_request');
      });
    });

    describe('loading messages', () => {
      let sessionId: string;
      beforeEach(async () => {
        sessionId = (await create()).id;
        await store.append(owner, sessionId, ['a', 'b', 'c', 'd', 'e'].map(userText));
      });
      const contents = async (options: Parameters<TranscriptStore['loadMessages']>[2]) =>
        (await store.loadMessages(owner, sessionId, options)).map((stored) => [stored.seq, stored.message.content]);

      it('returns only the messages after afterSeq', async () => {
        expect(await contents({ afterSeq: 3 })).toEqual([[4, 'd'], [5, 'e']]);
      });

      it('returns the last N messages, still in sequence order', async () => {
        expect(await contents({ last: 2 })).toEqual([[4, 'd'], [5, 'e']]);
      });

      it('returns every message when last exceeds their number', async () => {
        expect(await contents({ last: 50 })).toHaveLength(5);
      });

      it('applies last to the messages after afterSeq', async () => {
        expect(await contents({ afterSeq: 1, last: 10 })).toEqual([[2, 'b'], [3, 'c'], [4, 'd'], [5, 'e']]);
      });

      it.each([{ afterSeq: -1 }, { last: 1.5 }, { last: -2 }])('refuses %o with transcript.invalid_request', async (options) => {
        expect(await codeOf(store.loadMessages(owner, sessionId, options))).toBe('transcript.invalid_request');
      });
    });

    describe('deleting sessions', () => {
      it('deletes the session and its messages', async () => {
        const { id } = await create();
        await store.append(owner, id, [userText('a')]);
        expect(await store.deleteSession(owner, id)).toBe(true);
        expect(await store.getSession(owner, id)).toBeUndefined();
        // A new session under the same id starts empty: the old messages are gone.
        await create(owner, { id });
        expect(await store.loadMessages(owner, id)).toEqual([]);
      });

      it('resolves false when deleting again', async () => {
        const { id } = await create();
        await store.deleteSession(owner, id);
        expect(await store.deleteSession(owner, id)).toBe(false);
      });

      it("does not delete another owner's session", async () => {
        const session = await create();
        expect(await store.deleteSession(ownerWith({ userId: 'user-2' }), session.id)).toBe(false);
        expect(await store.getSession(owner, session.id)).toEqual(session);
      });
    });

    // Listing pages, erasure and retention: in their own file.
    describeTranscriptQueryContract(() => ({ store, clock, tenantId, owner }));
    // openSession and the release folded into updateRun: in their own file.
    describeOpenSessionContract(() => ({ store, clock, tenantId, owner }));

    describe('pruning', () => {
      const rounds = ['one', 'two', 'three'].flatMap((word) => [userText(word), assistantText(`${word} answered`)]);

      it('deletes whole rounds from the start and keeps the last keepRounds, with their numbers', async () => {
        const { id } = await create();
        await store.append(owner, id, rounds);
        expect(await store.prune(owner, id, { keepRounds: 2 })).toBe(2);
        expect(await seqsOf(id)).toEqual([3, 4, 5, 6]);
        expect((await messagesOf(id))[0]).toEqual(rounds[2]);
      });

      it('keeps numbering after the last sequence number once pruned', async () => {
        const { id } = await create();
        await store.append(owner, id, rounds);
        await store.prune(owner, id, { keepRounds: 0 });
        expect((await store.append(owner, id, [userText('four')])).seqs).toEqual([7]);
        expect(await seqsOf(id)).toEqual([7]);
      });

      it('removes nothing when keepRounds covers every round', async () => {
        const { id } = await create();
        await store.append(owner, id, rounds);
        expect(await store.prune(owner, id, { keepRounds: 3 })).toBe(0);
        expect(await seqsOf(id)).toEqual([1, 2, 3, 4, 5, 6]);
      });

      it.each([0, 1, 2, 3, 4, 5, 6])('never leaves a tool result without its call when keeping %i rounds', async (keepRounds) => {
        const { id } = await create();
        const all = roundsWithTools();
        await store.append(owner, id, all);
        const removed = await store.prune(owner, id, { keepRounds });
        const kept = await messagesOf(id);
        expect(orphanResults(kept)).toEqual([]);
        expect(kept).toEqual(all.slice(removed));
      });

      it.each([-1, 1.5])('refuses keepRounds %s with transcript.invalid_request', async (keepRounds) => {
        const { id } = await create();
        expect(await codeOf(store.prune(owner, id, { keepRounds }))).toBe('transcript.invalid_request');
      });

      it("removes nothing from another owner's session", async () => {
        const { id } = await create();
        await store.append(owner, id, rounds);
        expect(await codeOf(store.prune(ownerWith({ userId: 'user-2' }), id, { keepRounds: 0 }))).toBe('transcript.session_not_found');
        expect(await seqsOf(id)).toHaveLength(6);
      });
    });

    describe('locks', () => {
      const ttl = 30_000;
      let sessionId: string;
      beforeEach(async () => {
        sessionId = (await create()).id;
      });

      it('takes a free lock with a token, expiring ttl after the clock', async () => {
        const lock = await store.acquireLock(owner, sessionId, ttl);
        expect(lock).toEqual({ acquired: true, token: expect.any(String), expiresAt: new Date(clock.now().getTime() + ttl) });
      });

      it('reports a held lock with its expiry', async () => {
        const first = await store.acquireLock(owner, sessionId, ttl);
        clock.advance(ttl - 1);
        expect(await store.acquireLock(owner, sessionId, ttl)).toEqual({ acquired: false, reason: 'held', expiresAt: first.expiresAt });
      });

      it('lets the next caller take the lock once it has expired, with a new token', async () => {
        const first = await store.acquireLock(owner, sessionId, ttl);
        clock.advance(ttl);
        const second = await store.acquireLock(owner, sessionId, ttl);
        expect(second).toMatchObject({ acquired: true, expiresAt: new Date(clock.now().getTime() + ttl) });
        expect(tokenOf(second)).not.toBe(tokenOf(first));
      });

      it('releases with the current token, so the lock is free again', async () => {
        const lock = await store.acquireLock(owner, sessionId, ttl);
        expect(await store.releaseLock(owner, sessionId, tokenOf(lock))).toEqual({ released: true });
        expect(await store.acquireLock(owner, sessionId, ttl)).toMatchObject({ acquired: true });
      });

      it("reports a stale token after someone else took the expired lock, and keeps the new holder's lock", async () => {
        const first = await store.acquireLock(owner, sessionId, ttl);
        clock.advance(ttl + 1);
        const second = await store.acquireLock(owner, sessionId, ttl);
        expect(await store.releaseLock(owner, sessionId, tokenOf(first))).toEqual({ released: false, reason: 'stale' });
        expect(await store.acquireLock(owner, sessionId, ttl)).toEqual({ acquired: false, reason: 'held', expiresAt: second.expiresAt });
      });

      it('reports a stale token when releasing twice', async () => {
        const lock = await store.acquireLock(owner, sessionId, ttl);
        const token = tokenOf(lock);
        await store.releaseLock(owner, sessionId, token);
        expect(await store.releaseLock(owner, sessionId, token)).toEqual({ released: false, reason: 'stale' });
      });

      it.each([0, -5, 1.5])('refuses ttlMs %s with transcript.invalid_request', async (ttlMs) => {
        expect(await codeOf(store.acquireLock(owner, sessionId, ttlMs))).toBe('transcript.invalid_request');
      });

      it("neither takes nor releases another owner's lock", async () => {
        const lock = await store.acquireLock(owner, sessionId, ttl);
        const intruder = ownerWith({ userId: 'user-2' });
        expect(await codeOf(store.acquireLock(intruder, sessionId, ttl))).toBe('transcript.session_not_found');
        expect(await codeOf(store.releaseLock(intruder, sessionId, tokenOf(lock)))).toBe('transcript.session_not_found');
        expect(await store.acquireLock(owner, sessionId, ttl)).toMatchObject({ acquired: false, reason: 'held' });
      });
    });

    // Postgres text and jsonb cannot hold U+0000, and JSON cannot hold a BigInt or a
    // cycle: every store refuses them the same way, before anything is written.
    describe('values no store can keep', () => {
      const circular = (): Record<string, unknown> => {
        const value: Record<string, unknown> = { name: 'loop' };
        value.self = value;
        return value;
      };
      const withMetadata = (metadata: Record<string, unknown>): AgentMessage => ({ ...userText('hello'), metadata });
      const unstorableMessages: readonly [string, () => AgentMessage][] = [
        ['a NUL in the content', () => userText('a\u0000b')],
        ['a NUL in the payload', () => createMessage({ type: 'text', role: 'user', content: 'x', payload: { note: 'a\u0000b' } })],
        ['a NUL in a metadata key', () => withMetadata({ 'a\u0000b': 1 })],
        ['a BigInt in the metadata', () => withMetadata({ id: 10n })],
        ['a circular object in the metadata', () => withMetadata({ node: circular() })],
        ['a function in the metadata', () => withMetadata({ callback: () => 'lost' })],
        ['a number JSON cannot hold in the metadata', () => withMetadata({ score: Number.NaN })],
        ['a Map in the metadata', () => withMetadata({ entries: new Map([['a', 1]]) })],
      ];

      it.each(unstorableMessages)('refuses a message with %s with transcript.invalid_request and stores nothing', async (_problem, message) => {
        const { id } = await create();
        expect(await codeOf(store.append(owner, id, [userText('fine'), message()]))).toBe('transcript.invalid_request');
        expect(await seqsOf(id)).toEqual([]);
        expect((await store.getSession(owner, id))?.lastSeq).toBe(0);
      });

      const unstorableMetadata: readonly [string, () => Record<string, unknown>][] = [
        ['a NUL', () => ({ note: 'a\u0000b' })],
        ['a BigInt', () => ({ id: 10n })],
        ['a circular object', () => ({ node: circular() })],
        ['a function', () => ({ callback: () => 'lost' })],
      ];

      it.each(unstorableMetadata)('refuses session metadata with %s with transcript.invalid_request, on create and on update', async (_problem, metadata) => {
        expect(await codeOf(create(owner, { metadata: metadata() }))).toBe('transcript.invalid_request');
        const session = await create();
        expect(await codeOf(store.append(owner, session.id, [], { metadata: metadata() }))).toBe('transcript.invalid_request');
        expect(await store.getSession(owner, session.id)).toEqual(session);
      });

      it('refuses a title or an owner id with a NUL with transcript.invalid_request', async () => {
        expect(await codeOf(create(owner, { title: 'a\u0000b' }))).toBe('transcript.invalid_request');
        expect(await codeOf(create(ownerWith({ userId: 'user\u0000x' })))).toBe('transcript.invalid_request');
        const { id } = await create();
        expect(await codeOf(store.append(owner, id, [], { title: 'a\u0000b' }))).toBe('transcript.invalid_request');
      });

      it('keeps U+FFFD, the stand-in a run uses for NUL, and a Date in metadata as JSON keeps it', async () => {
        const { id } = await create();
        const message = { ...userText('a\uFFFDb'), metadata: { at: new Date('2030-01-01T00:00:00.000Z') } };
        await store.append(owner, id, [message]);
        expect(await messagesOf(id)).toEqual([{ ...message, metadata: { at: '2030-01-01T00:00:00.000Z' } }]);
      });
    });

    describe('lease renewal', () => {
      const ttl = 30_000;
      let sessionId: string;
      beforeEach(async () => {
        sessionId = (await create()).id;
      });

      it('extends a held lease to ttl after the clock', async () => {
        const token = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        clock.advance(ttl - 1);
        expect(await store.renewLock(owner, sessionId, token, ttl)).toEqual({ renewed: true, expiresAt: new Date(clock.now().getTime() + ttl) });
        clock.advance(ttl - 1);
        expect(await store.acquireLock(owner, sessionId, ttl)).toMatchObject({ acquired: false, reason: 'held' });
      });

      it('does not revive a lease that has expired, even if nobody took it', async () => {
        const token = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        clock.advance(ttl);
        expect(await store.renewLock(owner, sessionId, token, ttl)).toEqual({ renewed: false, reason: 'lost' });
        expect(await store.acquireLock(owner, sessionId, ttl)).toMatchObject({ acquired: true });
      });

      it("reports a lost lease after another run took the lock, and keeps the new holder's expiry", async () => {
        const first = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        clock.advance(ttl);
        const second = await store.acquireLock(owner, sessionId, ttl);
        expect(await store.renewLock(owner, sessionId, first, ttl * 2)).toEqual({ renewed: false, reason: 'lost' });
        expect(await store.acquireLock(owner, sessionId, ttl)).toEqual({ acquired: false, reason: 'held', expiresAt: second.expiresAt });
      });

      it('reports a released lease as lost', async () => {
        const token = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        await store.releaseLock(owner, sessionId, token);
        expect(await store.renewLock(owner, sessionId, token, ttl)).toEqual({ renewed: false, reason: 'lost' });
      });

      it("does not renew another owner's lease", async () => {
        const token = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        expect(await codeOf(store.renewLock(ownerWith({ userId: 'user-2' }), sessionId, token, ttl))).toBe('transcript.session_not_found');
      });
    });

    describe('fenced appends', () => {
      const ttl = 30_000;
      let sessionId: string;
      beforeEach(async () => {
        sessionId = (await create()).id;
      });

      it('appends with the current token of an unexpired lease', async () => {
        const lockToken = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        clock.advance(ttl - 1);
        expect((await store.append(owner, sessionId, [userText('a')], undefined, { lockToken })).seqs).toEqual([1]);
      });

      it('refuses a token whose lease expired with transcript.lease_lost, and writes nothing', async () => {
        const lockToken = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        clock.advance(ttl);
        expect(await codeOf(store.append(owner, sessionId, [userText('late')], { title: 'late' }, { lockToken }))).toBe('transcript.lease_lost');
        expect(await store.getSession(owner, sessionId)).toMatchObject({ lastSeq: 0, title: null });
      });

      it('refuses the old token once another run took the lock, and writes nothing', async () => {
        const stale = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        clock.advance(ttl);
        const current = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        expect(await codeOf(store.append(owner, sessionId, [userText('stale')], undefined, { lockToken: stale }))).toBe('transcript.lease_lost');
        await store.append(owner, sessionId, [userText('current')], undefined, { lockToken: current });
        expect(await messagesOf(sessionId)).toMatchObject([{ content: 'current' }]);
      });

      it('refuses a released token with transcript.lease_lost', async () => {
        const lockToken = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        await store.releaseLock(owner, sessionId, lockToken);
        expect(await codeOf(store.append(owner, sessionId, [userText('after')], undefined, { lockToken }))).toBe('transcript.lease_lost');
        expect(await seqsOf(sessionId)).toEqual([]);
      });

      it('refuses an append without a token while another run holds the lock, with transcript.session_locked', async () => {
        await store.acquireLock(owner, sessionId, ttl);
        expect(await codeOf(store.append(owner, sessionId, [userText('barging in')]))).toBe('transcript.session_locked');
        expect(await seqsOf(sessionId)).toEqual([]);
      });

      it('accepts an append without a token when the lock is free or expired', async () => {
        await store.append(owner, sessionId, [userText('free')]);
        await store.acquireLock(owner, sessionId, ttl);
        clock.advance(ttl);
        await store.append(owner, sessionId, [userText('expired')]);
        expect(await seqsOf(sessionId)).toEqual([1, 2]);
      });

      it('writes exactly one of two appends racing with the tokens of the old and the new lease', async () => {
        const stale = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        clock.advance(ttl);
        const current = tokenOf(await store.acquireLock(owner, sessionId, ttl));
        const outcomes = await Promise.allSettled([
          store.append(owner, sessionId, [userText('stale')], undefined, { lockToken: stale }),
          store.append(owner, sessionId, [userText('current')], undefined, { lockToken: current }),
        ]);
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'fulfilled']);
        expect(await messagesOf(sessionId)).toMatchObject([{ content: 'current' }]);
      });
    });

    describe('message ids', () => {
      it('refuses a message id the session already holds with transcript.duplicate_message, and writes nothing', async () => {
        const { id } = await create();
        const first = userText('once');
        await store.append(owner, id, [first]);
        expect(await codeOf(store.append(owner, id, [userText('new'), first], { title: 'changed' }))).toBe('transcript.duplicate_message');
        expect(await seqsOf(id)).toEqual([1]);
        expect(await store.getSession(owner, id)).toMatchObject({ lastSeq: 1, title: null });
      });

      it('refuses a batch holding one id twice with transcript.duplicate_message', async () => {
        const { id } = await create();
        const twice = userText('twice');
        expect(await codeOf(store.append(owner, id, [twice, twice]))).toBe('transcript.duplicate_message');
        expect(await seqsOf(id)).toEqual([]);
      });

      it('accepts the same message id in two sessions', async () => {
        const shared = userText('shared');
        const one = await create();
        const two = await create();
        await store.append(owner, one.id, [shared]);
        await store.append(owner, two.id, [shared]);
        expect(await seqsOf(two.id)).toEqual([1]);
      });
    });

    describe('creating a session with its first messages', () => {
      it('stores the messages with the session, numbered from 1', async () => {
        const first = [userText('a'), assistantText('b')];
        const session = await store.createSession(owner, { agentSlug: 'helper' }, { messages: first });
        expect(session.lastSeq).toBe(2);
        expect(await messagesOf(session.id)).toEqual(first);
        expect((await store.append(owner, session.id, [userText('c')])).seqs).toEqual([3]);
      });

      it.each([
        ['an invalid message', () => [foreignMessage()]],
        ['a delta', () => [messageOfType('delta')]],
        ['one message id twice', () => { const twice = userText('twice'); return [twice, twice]; }],
      ])('leaves no session behind when refusing %s', async (_, messages) => {
        const id = `ses-${randomUUID()}`;
        expect(await codeOf(store.createSession(owner, { id, agentSlug: 'helper' }, { messages: messages() }))).toMatch(/^transcript\./);
        expect(await store.getSession(owner, id)).toBeUndefined();
        expect((await store.listSessions(owner)).sessions).toEqual([]);
      });
    });

    describe('run records', () => {
      let sessionId: string;
      beforeEach(async () => {
        sessionId = (await create()).id;
      });

      it('begins a running run with nothing spent, owned like its session', async () => {
        const { created, run } = await store.beginRun(owner, sessionId, { agentSlug: 'helper', idempotencyKey: 'job-1', seqAtStart: 0 });
        expect(created).toBe(true);
        expect(run).toEqual({
          id: expect.any(String),
          sessionId,
          agentSlug: 'helper',
          userId: 'user-1',
          tenantId,
          idempotencyKey: 'job-1',
          status: 'running',
          failureCode: null,
          turnUsage: [],
          usage: {},
          used: { turns: 0, tokens: 0, wallClockMs: 0 },
          attempts: 1,
          seqAtStart: 0,
          result: null,
          startedAt: clock.now(),
          updatedAt: clock.now(),
          endedAt: null,
        });
        expect(await store.getRun(owner, sessionId, run.id)).toEqual(run);
      });

      it('returns the run with the same idempotency key instead of a second one, counting an attempt while it runs', async () => {
        const first = await store.beginRun(owner, sessionId, { agentSlug: 'helper', idempotencyKey: 'job-1', seqAtStart: 0 });
        const again = await store.beginRun(owner, sessionId, { agentSlug: 'helper', idempotencyKey: 'job-1', seqAtStart: 5 });
        expect(again).toMatchObject({ created: false, run: { id: first.run.id, attempts: 2, seqAtStart: 0 } });
        const other = await store.beginRun(owner, sessionId, { agentSlug: 'helper', idempotencyKey: 'job-2', seqAtStart: 0 });
        expect(other.created).toBe(true);
        expect(other.run.id).not.toBe(first.run.id);
      });

      it('never merges runs without a key', async () => {
        const first = await store.beginRun(owner, sessionId, { agentSlug: 'helper', seqAtStart: 0 });
        const second = await store.beginRun(owner, sessionId, { agentSlug: 'helper', seqAtStart: 0 });
        expect(second.run.id).not.toBe(first.run.id);
      });

      it('records an ending: status, failure code, usage per turn, what was spent, the result and the end time', async () => {
        const { run } = await store.beginRun(owner, sessionId, { agentSlug: 'helper', idempotencyKey: 'job-1', seqAtStart: 0 });
        clock.advance(2000);
        const turnUsage = [{ model: 'm', finishReason: 'stop', usage: { totalTokens: 12 } }];
        const ended = await store.updateRun(owner, sessionId, run.id, {
          status: 'failed',
          failureCode: 'provider.timeout',
          turnUsage,
          usage: { totalTokens: 12 },
          used: { turns: 1, tokens: 12, wallClockMs: 2000 },
          result: { status: 'failed', turns: 1 },
          ended: true,
        });
        expect(ended).toMatchObject({ status: 'failed', failureCode: 'provider.timeout', turnUsage, usage: { totalTokens: 12 }, used: { turns: 1, tokens: 12, wallClockMs: 2000 }, result: { status: 'failed', turns: 1 }, endedAt: clock.now() });
        expect(await store.getRun(owner, sessionId, run.id)).toEqual(ended);
        expect((await store.beginRun(owner, sessionId, { agentSlug: 'helper', idempotencyKey: 'job-1', seqAtStart: 0 })).run).toEqual(ended);
      });

      it("keeps runs to their session's owner", async () => {
        const { run } = await store.beginRun(owner, sessionId, { agentSlug: 'helper', seqAtStart: 0 });
        const intruder = ownerWith({ userId: 'user-2' });
        expect(await store.getRun(intruder, sessionId, run.id)).toBeUndefined();
        expect(await codeOf(store.beginRun(intruder, sessionId, { agentSlug: 'helper', seqAtStart: 0 }))).toBe('transcript.session_not_found');
        expect(await codeOf(store.updateRun(intruder, sessionId, run.id, { status: 'completed' }))).toBe('transcript.session_not_found');
      });

      it('refuses an update of a run the session does not have with transcript.run_not_found', async () => {
        expect(await codeOf(store.updateRun(owner, sessionId, `run-${randomUUID()}`, { status: 'completed' }))).toBe('transcript.run_not_found');
      });
    });
  });
}
