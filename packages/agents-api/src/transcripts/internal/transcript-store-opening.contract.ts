import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SessionOpening, SessionOwner } from '../transcript-store';
import { codeOf, tokenOf, userText } from './transcript-store-contract-support';
import type { QueryContractFixture } from './transcript-store-queries.contract';

// `openSession` and the lease release folded into `updateRun`: part of
// describeTranscriptStoreContract, kept in their own file. Not public API.

const ttl = 30_000;

function openedOf(opening: SessionOpening): Extract<SessionOpening, { opened: true }> {
  if (!opening.opened) throw new Error(`expected the session opened, got ${JSON.stringify(opening)}`);
  return opening;
}

export function describeOpenSessionContract(current: () => QueryContractFixture): void {
  const open = (as: SessionOwner, fields: { id?: string; key?: string; messages?: ReturnType<typeof userText>[] } = {}) =>
    current().store.openSession(as, {
      session: { agentSlug: 'helper', ...(fields.id === undefined ? {} : { id: fields.id }) },
      messages: fields.messages ?? [],
      ttlMs: ttl,
      run: { seqAtStart: 0, ...(fields.key === undefined ? {} : { idempotencyKey: fields.key }) },
    });

  describe('opening a session (create, lease and run in one step)', () => {
    it('creates the session with its messages, leased, with a new run', async () => {
      const { store, owner, clock } = current();
      const input = userText('Hi');
      const opening = openedOf(await open(owner, { messages: [input] }));
      expect(opening).toMatchObject({ created: true, session: { agentSlug: 'helper', lastSeq: 1, userId: owner.userId, tenantId: owner.tenantId } });
      expect(opening.lease.expiresAt).toEqual(new Date(clock.now().getTime() + ttl));
      expect(opening.run).toMatchObject({ created: true, run: { sessionId: opening.session.id, agentSlug: 'helper', status: 'running', attempts: 1, seqAtStart: 0 } });
      expect((await store.loadMessages(owner, opening.session.id)).map((stored) => [stored.seq, stored.message])).toEqual([[1, input]]);
      expect(await store.getRun(owner, opening.session.id, opening.run.run.id)).toEqual(opening.run.run);
      expect(await store.getSession(owner, opening.session.id)).toEqual(opening.session);
    });

    it("opens the same way when its durability may wait for the caller's next write", async () => {
      const { store, owner } = current();
      const input = userText('Hi');
      const opening = openedOf(await store.openSession(owner, { session: { agentSlug: 'helper' }, messages: [input], ttlMs: ttl, run: { seqAtStart: 0 }, durability: 'with_next_write' }));
      expect(opening).toMatchObject({ created: true, session: { lastSeq: 1 }, run: { created: true, run: { status: 'running' } } });
      expect((await store.loadMessages(owner, opening.session.id)).map((stored) => stored.message)).toEqual([input]);
      await store.append(owner, opening.session.id, [userText('next')], undefined, { lockToken: opening.lease.token });
      expect(await store.acquireLock(owner, opening.session.id, ttl)).toMatchObject({ acquired: false, reason: 'held' });
    });

    it('refuses a durability it does not know, writing nothing', async () => {
      const { store, owner } = current();
      const id = `open-${randomUUID()}`;
      const request = { session: { id, agentSlug: 'helper' }, ttlMs: ttl, run: { seqAtStart: 0 }, durability: 'eventually' };
      // @ts-expect-error -- a durability the type does not allow, as untyped callers may send
      expect(await codeOf(store.openSession(owner, request))).toBe('transcript.invalid_request');
      expect(await store.getSession(owner, id)).toBeUndefined();
    });

    it('fences with the lease it took: an unfenced append is refused, a fenced one is written', async () => {
      const { store, owner } = current();
      const opening = openedOf(await open(owner));
      expect(await codeOf(store.append(owner, opening.session.id, [userText('sneaky')]))).toBe('transcript.session_locked');
      await store.append(owner, opening.session.id, [userText('fenced')], undefined, { lockToken: opening.lease.token });
      expect(await store.acquireLock(owner, opening.session.id, ttl)).toMatchObject({ acquired: false, reason: 'held' });
    });

    it('refuses a taken id without a key, writing nothing', async () => {
      const { store, owner } = current();
      const id = `open-${randomUUID()}`;
      await store.createSession(owner, { id, agentSlug: 'helper' });
      expect(await codeOf(open(owner, { id, messages: [userText('again')] }))).toBe('transcript.session_exists');
      expect(await store.loadMessages(owner, id)).toEqual([]);
      expect(await store.acquireLock(owner, id, ttl)).toMatchObject({ acquired: true });
    });

    it("refuses another owner's id even with a key, and leaves their session as it was", async () => {
      const { store, owner } = current();
      const id = `open-${randomUUID()}`;
      await store.createSession(owner, { id, agentSlug: 'helper' });
      const intruder = { ...owner, userId: 'user-2' };
      expect(await codeOf(open(intruder, { id, key: 'job-1' }))).toBe('transcript.session_exists');
      expect(await store.acquireLock(owner, id, ttl)).toMatchObject({ acquired: true });
    });

    it('reopens its own session by key: the same run, one more attempt, and the messages are not stored twice', async () => {
      const { store, owner } = current();
      const id = `open-${randomUUID()}`;
      const first = openedOf(await open(owner, { id, key: 'job-1', messages: [userText('Hi')] }));
      await store.releaseLock(owner, id, first.lease.token);
      const again = openedOf(await open(owner, { id, key: 'job-1', messages: [userText('Hi')] }));
      expect(again).toMatchObject({ created: false, session: { id, lastSeq: 1 }, run: { created: false, run: { id: first.run.run.id, attempts: 2 } } });
      expect(again.lease.token).not.toBe(first.lease.token);
      expect(await store.loadMessages(owner, id)).toHaveLength(1);
      expect(await store.getRun(owner, id, again.run.run.id)).toEqual(again.run.run);
      expect(await store.getSession(owner, id)).toEqual(again.session);
    });

    it('gives back the session and run as stored, whether it created them or reopened the session by a new key', async () => {
      const { store, owner } = current();
      const id = `open-${randomUUID()}`;
      const created = await store.openSession(owner, {
        session: { id, agentSlug: 'helper', title: 'Trip', metadata: { channel: 'web', nested: { depth: 2, list: [1, 'two', null] } } },
        messages: [userText('Hi')],
        ttlMs: ttl,
        run: { seqAtStart: 0, idempotencyKey: 'job-1' },
      });
      const first = openedOf(created);
      expect(await store.getSession(owner, id)).toEqual(first.session);
      expect(await store.getRun(owner, id, first.run.run.id)).toEqual(first.run.run);
      await store.releaseLock(owner, id, first.lease.token);
      const other = openedOf(await open(owner, { id, key: 'job-2', messages: [userText('Hi')] }));
      expect(other).toMatchObject({ created: false, session: { id, title: 'Trip' }, run: { created: true, run: { idempotencyKey: 'job-2', attempts: 1 } } });
      expect(await store.getSession(owner, id)).toEqual(other.session);
      expect(await store.getRun(owner, id, other.run.run.id)).toEqual(other.run.run);
    });

    it('reports a held session as held with its expiry, and writes nothing', async () => {
      const { store, owner, clock } = current();
      const id = `open-${randomUUID()}`;
      const first = openedOf(await open(owner, { id, key: 'job-1' }));
      clock.advance(ttl - 1);
      expect(await open(owner, { id, key: 'job-2', messages: [userText('other')] })).toEqual({ opened: false, reason: 'held', expiresAt: first.lease.expiresAt });
      expect(await store.loadMessages(owner, id)).toEqual([]);
      clock.advance(1);
      expect(openedOf(await open(owner, { id, key: 'job-2' })).run.created).toBe(true);
    });

    it('refuses bad input with transcript.invalid_request, creating nothing', async () => {
      const { store, owner } = current();
      const id = `open-${randomUUID()}`;
      const bad = current().store.openSession(owner, { session: { id, agentSlug: 'helper' }, messages: [userText('x')], ttlMs: 0, run: { seqAtStart: 0 } });
      expect(await codeOf(bad)).toBe('transcript.invalid_request');
      expect(await store.getSession(owner, id)).toBeUndefined();
    });

    it('refuses a message id given twice with transcript.duplicate_message, creating nothing', async () => {
      const { store, owner } = current();
      const id = `open-${randomUUID()}`;
      const twice = userText('twice');
      expect(await codeOf(open(owner, { id, messages: [twice, twice] }))).toBe('transcript.duplicate_message');
      expect(await store.getSession(owner, id)).toBeUndefined();
    });
  });

  describe('ending a run and its lease in one step', () => {
    it('releases the lock with the update when the token still holds it', async () => {
      const { store, owner } = current();
      const { id } = await store.createSession(owner, { agentSlug: 'helper' });
      const lock = await store.acquireLock(owner, id, ttl);
      const { run } = await store.beginRun(owner, id, { agentSlug: 'helper', seqAtStart: 0 });
      const ended = await store.updateRun(owner, id, run.id, { status: 'completed', ended: true }, { releaseLockToken: tokenOf(lock) });
      expect(ended).toMatchObject({ status: 'completed', endedAt: expect.any(Date) });
      expect(await store.acquireLock(owner, id, ttl)).toMatchObject({ acquired: true });
    });

    it("updates the run but keeps the new holder's lock when the token is stale", async () => {
      const { store, owner, clock } = current();
      const { id } = await store.createSession(owner, { agentSlug: 'helper' });
      const first = await store.acquireLock(owner, id, ttl);
      const { run } = await store.beginRun(owner, id, { agentSlug: 'helper', seqAtStart: 0 });
      clock.advance(ttl);
      const second = await store.acquireLock(owner, id, ttl);
      expect(await store.updateRun(owner, id, run.id, { status: 'failed', failureCode: 'transcript.lease_lost', ended: true }, { releaseLockToken: tokenOf(first) })).toMatchObject({
        status: 'failed',
      });
      expect(await store.acquireLock(owner, id, ttl)).toEqual({ acquired: false, reason: 'held', expiresAt: second.expiresAt });
    });

    it('releases nothing without a token', async () => {
      const { store, owner } = current();
      const { id } = await store.createSession(owner, { agentSlug: 'helper' });
      await store.acquireLock(owner, id, ttl);
      const { run } = await store.beginRun(owner, id, { agentSlug: 'helper', seqAtStart: 0 });
      await store.updateRun(owner, id, run.id, { status: 'completed', ended: true });
      expect(await store.acquireLock(owner, id, ttl)).toMatchObject({ acquired: false, reason: 'held' });
    });

    it("stores a run's last messages, ends its record and releases its lease in one append", async () => {
      const { store, owner } = current();
      const opening = openedOf(await open(owner, { messages: [userText('Hi')] }));
      const { id } = opening.session;
      const answer = userText('the end');
      await store.append(owner, id, [answer], undefined, {
        lockToken: opening.lease.token,
        endRun: { runId: opening.run.run.id, update: { status: 'completed', result: { done: true }, used: { turns: 1, tokens: 5, wallClockMs: 3 }, ended: true } },
      });
      expect((await store.loadMessages(owner, id)).map((stored) => stored.message.id).at(-1)).toBe(answer.id);
      expect(await store.getRun(owner, id, opening.run.run.id)).toMatchObject({ status: 'completed', result: { done: true }, used: { turns: 1, tokens: 5 }, endedAt: expect.any(Date) });
      expect(await store.acquireLock(owner, id, ttl)).toMatchObject({ acquired: true });
    });

    it('writes neither the messages nor the ending when the lease is lost', async () => {
      const { store, owner, clock } = current();
      const opening = openedOf(await open(owner));
      const { id } = opening.session;
      clock.advance(ttl);
      const ending = store.append(owner, id, [userText('late')], undefined, { lockToken: opening.lease.token, endRun: { runId: opening.run.run.id, update: { status: 'completed', ended: true } } });
      expect(await codeOf(ending)).toBe('transcript.lease_lost');
      expect(await store.loadMessages(owner, id)).toEqual([]);
      expect(await store.getRun(owner, id, opening.run.run.id)).toMatchObject({ status: 'running', endedAt: null });
    });

    it('refuses an ending for a run the session does not have, or without a lock token, writing nothing', async () => {
      const { store, owner } = current();
      const opening = openedOf(await open(owner));
      const { id } = opening.session;
      const wrongRun = store.append(owner, id, [userText('x')], undefined, { lockToken: opening.lease.token, endRun: { runId: 'run_missing', update: { ended: true } } });
      expect(await codeOf(wrongRun)).toBe('transcript.run_not_found');
      const unfenced = store.append(owner, id, [userText('y')], undefined, { endRun: { runId: opening.run.run.id, update: { ended: true } } });
      expect(await codeOf(unfenced)).toBe('transcript.invalid_request');
      expect(await store.loadMessages(owner, id)).toEqual([]);
      expect(await store.acquireLock(owner, id, ttl)).toMatchObject({ acquired: false, reason: 'held' });
    });
  });
}
