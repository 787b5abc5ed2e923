import { createInMemoryTranscriptStore, type ModelProvider, type ModelStreamEvent, type TranscriptStore } from '@data-machine/agents-api';
import { describe, expect, it } from 'vitest';
import { createSessionOpenGate } from './session-open-gate';

const owner = { userId: 'user_1', tenantId: null };
const openRequest = { session: { agentSlug: 'helper' }, messages: [], ttlMs: 60_000, run: { seqAtStart: 0 } } as unknown as Parameters<TranscriptStore['openSession']>[1];
const request = { model: 'test-model', messages: [] } as unknown as Parameters<ModelProvider['stream']>[0];

/** A store that records when its open is called, and a model whose one event comes when `answer` is called. */
function turnParts() {
  const calls: string[] = [];
  const inner = createInMemoryTranscriptStore();
  const store = Object.assign(Object.create(inner) as TranscriptStore, {
    openSession: (...args: Parameters<TranscriptStore['openSession']>) => (calls.push('open'), inner.openSession(...args)),
  });
  let answer: (outcome: 'event' | 'failure') => void = () => undefined;
  const answered = new Promise<'event' | 'failure'>((resolve) => (answer = resolve));
  const provider: ModelProvider = {
    name: 'scripted',
    complete: () => Promise.reject(new Error('not used')),
    async *stream() {
      if ((await answered) === 'failure') throw new Error('model failed');
      yield { type: 'text_delta', text: 'Hi' } as unknown as ModelStreamEvent;
    },
  };
  return { calls, store, provider, answer };
}

/** Lets every queued microtask, tick and immediate of the moment run. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

describe("a new session's open gate", () => {
  it("opens the session only after the model's first event, and the loop has gone round", async () => {
    const parts = turnParts();
    const gate = createSessionOpenGate(parts.store, parts.provider, { fallbackMs: 60_000 });
    const opened = gate.store.openSession(owner, openRequest);
    const events = gate.provider.stream(request)[Symbol.asyncIterator]();
    const first = events.next();
    await settle();
    expect(parts.calls).toEqual([]);
    parts.answer('event');
    expect(await first).toMatchObject({ done: false, value: { type: 'text_delta' } });
    expect(parts.calls).toEqual([]);
    await opened;
    expect(parts.calls).toEqual(['open']);
  });

  it('opens when the model call fails before any event', async () => {
    const parts = turnParts();
    const gate = createSessionOpenGate(parts.store, parts.provider, { fallbackMs: 60_000 });
    const opened = gate.store.openSession(owner, openRequest);
    parts.answer('failure');
    await expect(gate.provider.stream(request)[Symbol.asyncIterator]().next()).rejects.toThrow('model failed');
    await opened;
    expect(parts.calls).toEqual(['open']);
  });

  it('opens when the turn is cancelled, or after the fallback, with no model call at all', async () => {
    const cancelled = turnParts();
    const controller = new AbortController();
    const byAbort = createSessionOpenGate(cancelled.store, cancelled.provider, { signal: controller.signal, fallbackMs: 60_000 });
    const openedByAbort = byAbort.store.openSession(owner, openRequest);
    controller.abort();
    await openedByAbort;
    expect(cancelled.calls).toEqual(['open']);

    const late = turnParts();
    const byTime = createSessionOpenGate(late.store, late.provider, { fallbackMs: 1 });
    await byTime.store.openSession(owner, openRequest);
    expect(late.calls).toEqual(['open']);
  });

  it("answers every other call with the store's and the model's own members", async () => {
    const parts = turnParts();
    const gate = createSessionOpenGate(parts.store, parts.provider, { fallbackMs: 1 });
    expect(gate.store.durable).toBe(parts.store.durable);
    expect(gate.provider.name).toBe('scripted');
    const created = await gate.store.createSession(owner, { agentSlug: 'helper' });
    expect(await parts.store.getSession(owner, created.id)).toMatchObject({ id: created.id });
  });
});
