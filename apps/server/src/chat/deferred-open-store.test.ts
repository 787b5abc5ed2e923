import { createInMemoryTranscriptStore, type TranscriptStore } from '@data-machine/agents-api';
import { describe, expect, it } from 'vitest';
import { deferOpenSession } from './deferred-open-store';

describe('a transcript store whose open is deferred', () => {
  it('starts the open after the work started beside it in the same tick (its microtasks and next ticks)', async () => {
    const order: string[] = [];
    const inner = createInMemoryTranscriptStore();
    const store = deferOpenSession({ ...inner, durable: inner.durable, openSession: (...args) => (order.push('open'), inner.openSession(...args)) } as TranscriptStore);
    const owner = { userId: 'user_1', tenantId: null };
    const opened = store.openSession(owner, { session: { agentSlug: 'helper' }, messages: [], ttlMs: 1_000, run: { seqAtStart: 0 } } as unknown as Parameters<TranscriptStore['openSession']>[1]);
    // What a model call does once launched: work queued as microtasks and a next tick.
    void Promise.resolve().then(() => order.push('model request (microtask)'));
    process.nextTick(() => order.push('model request (next tick)'));
    expect(order).toEqual([]);
    await opened;
    expect(order).toHaveLength(3);
    expect(order.at(-1)).toBe('open');
  });

  it("answers every other call with the store's own members", async () => {
    const inner = createInMemoryTranscriptStore();
    const store = deferOpenSession(inner);
    expect(store.durable).toBe(inner.durable);
    const owner = { userId: 'user_1', tenantId: null };
    const created = await store.createSession(owner, { agentSlug: 'helper' });
    expect(await inner.getSession(owner, created.id)).toMatchObject({ id: created.id });
  });
});
