import { randomUUID } from 'node:crypto';
import { describeEachDatabase, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import type { AgentsApiDatabase } from '../database/agents-api-database';
import { migrateAgentsApi } from '../database/agents-api-migrations';
import { AgentsApiError } from '../errors';
import { createMessage, type AgentMessage } from '../messages/message';
import type { ModelProvider } from '../providers/model-provider';
import { createOpenAIProvider } from '../providers/openai-provider';
import type { ConversationEvent } from '../runner/conversation-runner';
import { createToolLoopRunner } from '../runner/tool-loop-runner';
import { defineTool } from '../tools/define-tool';
import { createPostgresTranscriptStore } from '../transcripts/postgres-transcript-store';
import { parseOpenSession } from '../transcripts/internal/transcript-store-rules';
import type { OpenSessionRequest, SessionOwner, TranscriptStore } from '../transcripts/transcript-store';
import { createSessionRunner, type SessionRunner } from './session-runner';
import type { SessionStream, SessionStreamEvent } from './session-stream';

const instructions = 'You are the weather agent.';
const userSays = (content: string): AgentMessage => createMessage({ type: 'text', role: 'user', content, payload: {} });
const principal = testPrincipal({ agentSlug: 'weather' });
const owner = (): SessionOwner => ({ userId: principal.userId, tenantId: principal.tenantId });
let lookups = 0;
const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => {
    lookups += 1;
    return `Sunny in ${city}`;
  },
});
const tools = [weather];

let server: ModelServer;
beforeAll(async () => {
  server = await startModelServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
  lookups = 0;
});

const providerFor = (model: ModelServer) => createOpenAIProvider({ apiKey: 'test-key', baseURL: model.baseURL, model: 'test-model', maxRetries: 0 });

/** Waits until `condition` holds, checking on each turn of the event loop; fails after a deadline rather than hanging. */
async function waitFor(condition: () => boolean, deadlineMs = 5000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Reads a stream until `leaveAfter` says so (then breaks, as a browser that goes away), or to its end. */
async function consume(stream: SessionStream, leaveAfter: (event: ConversationEvent) => boolean = () => false): Promise<SessionStreamEvent[]> {
  const seen: SessionStreamEvent[] = [];
  for await (const entry of stream) {
    seen.push(entry);
    if (leaveAfter(entry.event)) break;
  }
  return seen;
}

await describeEachDatabase<AgentsApiDatabase>('durable session streams on the Postgres store', (context) => {
  let store: TranscriptStore;
  let sessions: SessionRunner;
  beforeAll(async () => {
    await migrateAgentsApi(context.db);
    store = createPostgresTranscriptStore({ db: context.db });
    const provider = providerFor(server);
    sessions = createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider, persister }) });
  });
  const types = async (who: SessionOwner, sessionId: string) => (await store.loadMessages(who, sessionId)).map(({ message }) => `${message.role}:${message.type}`);
  /** A runner whose store runs `before` ahead of each `openSession` (to count it, or hold it back). */
  const runnerOpeningAfter = (before: () => Promise<void> | void): SessionRunner => {
    const opening: TranscriptStore = Object.assign(Object.create(store) as TranscriptStore, {
      openSession: async (...args: Parameters<TranscriptStore['openSession']>) => {
        await before();
        return store.openSession(...args);
      },
    });
    return createSessionRunner({ store: opening, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
  };
  /** A runner whose store counts its `getSession` reads. */
  const readCountingRunner = (): { readonly runner: SessionRunner; readonly reads: () => number } => {
    let reads = 0;
    const counting: TranscriptStore = {
      ...store,
      getSession: async (as, sessionId) => {
        reads += 1;
        return store.getSession(as, sessionId);
      },
    };
    return { runner: createSessionRunner({ store: counting, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) }), reads: () => reads };
  };
  /** A runner whose opens wait until `letOpen` is called. */
  const heldOpen = (): { readonly runner: SessionRunner; readonly letOpen: () => void } => {
    let letOpen!: () => void;
    const held = new Promise<void>((resolve) => (letOpen = resolve));
    return { runner: runnerOpeningAfter(() => held), letOpen };
  };

  it('streams a two-turn tool conversation and stores each message as it completes', async () => {
    const who = owner();
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    const storedAtEachMessage: number[] = [];
    const seen: SessionStreamEvent[] = [];
    for await (const entry of stream) {
      seen.push(entry);
      if (entry.event.type === 'message') storedAtEachMessage.push((await store.loadMessages(who, stream.session.id)).length);
    }
    expect(storedAtEachMessage).toEqual([2, 3, 4]);
    const text = seen.flatMap(({ event }) => (event.type === 'text_delta' ? [event.text] : [])).join('');
    expect(text).toBe('It is sunny in Paris.');
    expect(seen.map(({ event }) => event.index)).toEqual(seen.map((_, position) => position));
    const { session, result } = await stream.result;
    expect(result.status).toBe('completed');
    expect(seen.at(-1)?.event).toMatchObject({ type: 'run_end', result: { status: 'completed' } });
    expect(session.lastSeq).toBe(4);
    expect(await types(who, session.id)).toEqual(['user:text', 'assistant:tool_call', 'tool:tool_result', 'assistant:text']);
  });

  it('cancels the run when the consumer leaves mid-text, stores nothing of that turn, and resumes cleanly', async () => {
    const who = owner();
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris today.'));
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    const seen = await consume(stream, (event) => event.type === 'text_delta');
    expect(seen.at(-1)?.event.type).toBe('text_delta');
    // The loop is over and the lock free by the time the consumer's loop has left.
    expect((await stream.result).result.status).toBe('cancelled');
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:tool_call', 'tool:tool_result']);

    server.enqueue(textReply('Sunny.'));
    const resumed = await sessions.stream.resume({ owner: who, sessionId: stream.session.id, principal, tools, instructions });
    const rest = await consume(resumed);
    expect(rest.at(-1)?.event).toMatchObject({ type: 'run_end', index: rest.length - 1, result: { status: 'completed', finalContent: 'Sunny.' } });
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:tool_call', 'tool:tool_result', 'assistant:text']);
    expect(lookups).toBe(1);
  });

  it('cancels the run when the consumer leaves after the first tool result, and resumes to the answer', async () => {
    const who = owner();
    // The second reply is for the second turn's call, which may go out beside the results' write.
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Oslo' } }), textReply('Sunny in Oslo.'));
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    await consume(stream, (event) => event.type === 'tool_result');
    expect((await stream.result).result.status).toBe('cancelled');
    // Nothing of the second turn was stored, whether or not its call had gone out.
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:tool_call', 'tool:tool_result']);

    server.enqueue(textReply('Sunny in Oslo.'));
    const resumed = await sessions.stream.resume({ owner: who, sessionId: stream.session.id, principal, tools, instructions });
    await consume(resumed);
    expect((await resumed.result).result).toMatchObject({ status: 'completed', finalContent: 'Sunny in Oslo.' });
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:tool_call', 'tool:tool_result', 'assistant:text']);
  });

  it('replays to a reconnecting consumer the messages stored after the last event it saw', async () => {
    const who = owner();
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    const all = await consume(stream);
    // A consumer that saw events up to the tool call's `tool_call` event, which comes after the call's message.
    const cut = all.findIndex(({ event }) => event.type === 'tool_call');
    const lastSeen = all[cut] as SessionStreamEvent;
    const missed: SessionStreamEvent[] = [];
    for await (const entry of sessions.stream.replay(who, stream.session.id, lastSeen.id)) missed.push(entry);
    const stored = all.flatMap(({ event }) => (event.type === 'message' ? [event.message] : []));
    expect(missed.map(({ event }) => (event.type === 'message' ? event.message.id : event.type))).toEqual([stored[1]?.id, stored[2]?.id]);
    expect(missed.map(({ event }) => event.index)).toEqual([lastSeen.event.index + 1, lastSeen.event.index + 2]);
    // Ids stay cursors: a consumer that drops again resumes from the replayed ids.
    const again: SessionStreamEvent[] = [];
    for await (const entry of sessions.stream.replay(who, stream.session.id, missed[0]?.id ?? '')) again.push(entry);
    expect(again.map(({ event }) => event.messageId)).toEqual([stored[2]?.id]);
  });

  it('replays, after a consumer left mid-text, every message stored since the last one it saw whole', async () => {
    const who = owner();
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    const seen = await consume(stream, (event) => event.type === 'text_delta');
    server.enqueue(textReply('Sunny.'));
    await consume(await sessions.stream.resume({ owner: who, sessionId: stream.session.id, principal, tools, instructions }));
    const missed: SessionStreamEvent[] = [];
    for await (const entry of sessions.stream.replay(who, stream.session.id, seen.at(-1)?.id ?? '')) missed.push(entry);
    expect(missed.map(({ event }) => (event.type === 'message' ? event.message.content : event.type))).toEqual(['Sunny.']);
  });

  it('refuses a last event id that names no message of the session', async () => {
    const who = owner();
    const session = await store.createSession(who, { agentSlug: 'weather' });
    const replaying = async () => {
      for await (const _entry of sessions.stream.replay(who, session.id, 'msg_unknown.3')) void _entry;
    };
    await expect(replaying()).rejects.toMatchObject({ code: 'transcript.invalid_request' });
    const malformed = async () => {
      for await (const _entry of sessions.stream.replay(who, session.id, 'no-index')) void _entry;
    };
    await expect(malformed()).rejects.toMatchObject({ code: 'transcript.invalid_request' });
  });

  it('refuses to stream a session another run holds, before any event', async () => {
    const who = owner();
    server.enqueue(textReply('Hello.'));
    const first = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    const second = sessions.stream.resume({ owner: who, sessionId: first.session.id, input: [userSays('Again')], principal, instructions });
    await expect(second).rejects.toMatchObject({ code: 'transcript.session_locked' });
    await consume(first);
    expect(await types(who, first.session.id)).toEqual(['user:text', 'assistant:text']);
  });

  it('makes a resume sent right after an early start wait for its open: a slow open is still seen first, and the session is locked by its run', async () => {
    const who = owner();
    server.enqueue(textReply('Hello.'));
    // The open's statement is held back, as a pooled store's can be when its connection is made on demand.
    const { runner: slow, letOpen } = heldOpen();
    const first = await slow.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    const second = slow.stream.resume({ owner: who, sessionId: first.session.id, input: [userSays('Again')], principal, instructions });
    setTimeout(letOpen, 20);
    await expect(second).rejects.toMatchObject({ code: 'transcript.session_locked' });
    await consume(first);
    expect(await types(who, first.session.id)).toEqual(['user:text', 'assistant:text']);
  });

  it('sends the open of a start without a session id one turn of the event loop after its first model request, then stores the run as usual', async () => {
    const who = owner();
    server.enqueue(textReply('Hello.'));
    let opens = 0;
    const counted = runnerOpeningAfter(() => {
      opens += 1;
    });
    const stream = await counted.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    expect(opens).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(opens).toBe(1);
    await consume(stream);
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:text']);
  });

  it('makes a replay asked for right after an early start wait for its open, rather than find no session', async () => {
    const who = owner();
    server.enqueue(textReply('Hello.'));
    const { runner: slow, letOpen } = heldOpen();
    const first = await slow.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    const replayed: SessionStreamEvent[] = [];
    const replaying = (async () => {
      for await (const entry of slow.stream.replay(who, first.session.id, '.0')) replayed.push(entry);
    })();
    setTimeout(letOpen, 20);
    await replaying;
    expect(replayed.map(({ event }) => (event.type === 'message' ? `${event.message.role}:${event.message.type}` : event.type))).toEqual(['user:text']);
    await consume(first);
  });

  it('ends a stream cancelled before it is iterated as cancelled, storing nothing of its run and releasing the lock', async () => {
    const who = owner();
    // The run's first model call starts beside the set-up; its answer would come long after the cancel.
    server.enqueue(textReply('Too late.', { delayMs: 30_000 }));
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    await stream.cancel();
    expect((await stream.result).result).toMatchObject({ status: 'cancelled', messages: [] });
    expect(await types(who, stream.session.id)).toEqual(['user:text']);
    // A start without a session id resolves at once, so the cancel may come before the call was sent: its reply may still be queued.
    server.reset();
    server.enqueue(textReply('Hello.'));
    const resumed = await sessions.stream.resume({ owner: who, sessionId: stream.session.id, principal, instructions });
    await consume(resumed);
    expect((await resumed.result).result.status).toBe('completed');
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:text']);
  });

  it('yields tool_call_delta events, the arguments in pieces, from a real openai client, each naming the call message that follows', async () => {
    const who = owner();
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Rio de Janeiro' } }), textReply('Warm.'));
    const seen = await consume(await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions }));
    const deltas = seen.flatMap(({ event }) => (event.type === 'tool_call_delta' ? [event] : []));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((delta) => delta.argumentsDelta).join('')).toBe(JSON.stringify({ city: 'Rio de Janeiro' }));
    expect(deltas[0]).toMatchObject({ toolCallIndex: 0, toolName: 'weather', toolCallId: expect.any(String) });
    const callMessage = seen.find(({ event }) => event.type === 'message' && event.message.type === 'tool_call')?.event;
    expect(callMessage?.type === 'message' ? callMessage.message.payload : undefined).toMatchObject({ toolCalls: [{ id: deltas[0]?.toolCallId, name: 'weather' }] });
    expect(new Set(deltas.map((delta) => delta.messageId))).toEqual(new Set([callMessage?.messageId]));
  });

  it("ends the run's record and releases its lease together when the run ends", async () => {
    const who = owner();
    server.enqueue(textReply('Hello.'));
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    await consume(stream);
    const { runId } = await stream.result;
    expect(await store.getRun(who, stream.session.id, runId)).toMatchObject({ status: 'completed', endedAt: expect.any(Date), used: { turns: 1 } });
    expect(await store.acquireLock(who, stream.session.id, 1000)).toMatchObject({ acquired: true });
  });

  it('writes nothing and runs no tool when the set-up beside the first model call is refused', async () => {
    const who = owner();
    const stranger = { userId: 'someone-else', tenantId: who.tenantId };
    const sessionId = `taken-${randomUUID()}`;
    await store.createSession(stranger, { id: sessionId, agentSlug: 'weather' });
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }));
    // The refusal comes only once the model has been asked: the call's answer races the set-up.
    const slowToRefuse: TranscriptStore = {
      ...store,
      openSession: async (as, request) => {
        await waitFor(() => server.completionRequests().length === 1);
        return store.openSession(as, request);
      },
    };
    const refusing = createSessionRunner({ store: slowToRefuse, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
    const starting = refusing.stream.start({ owner: who, session: { id: sessionId, agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    await expect(starting).rejects.toMatchObject({ code: 'transcript.session_exists' });
    expect(lookups).toBe(0);
    expect(await store.loadMessages(stranger, sessionId)).toEqual([]);
    expect(await store.acquireLock(stranger, sessionId, 1000)).toMatchObject({ acquired: true });
  });

  it('sends the first deltas of a start without a session id before the store has set the session up, then stores the run as usual', async () => {
    const who = owner();
    server.enqueue(textReply('Hello there.'));
    let openNow!: () => void;
    const held = new Promise<void>((resolve) => (openNow = resolve));
    const slowToOpen: TranscriptStore = {
      ...store,
      openSession: async (as, request) => {
        await held;
        return store.openSession(as, request);
      },
    };
    const early = createSessionRunner({ store: slowToOpen, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
    const stream = await early.stream.start({ owner: who, session: { agentSlug: 'weather', title: 'Early' }, input: [userSays('Hi')], principal, instructions });
    expect(stream.session).toMatchObject({ agentSlug: 'weather', title: 'Early', userId: who.userId, tenantId: who.tenantId, lastSeq: 1 });
    const seen: SessionStreamEvent[] = [];
    for await (const entry of stream) {
      seen.push(entry);
      // The open is still held here: the delta came before it.
      if (entry.event.type === 'text_delta') openNow();
    }
    expect(seen.map(({ event }) => event.type)).toContain('text_delta');
    expect(seen.at(-1)?.event).toMatchObject({ type: 'run_end', result: { status: 'completed' } });
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:text']);
    expect((await stream.result).session).toMatchObject({ id: stream.session.id, lastSeq: 2 });
  });

  it('ends the stream of a start without a session id with the store\'s error when its set-up fails after the first deltas: nothing stored, no tool run', async () => {
    const who = owner();
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }));
    let failNow!: () => void;
    const held = new Promise<void>((resolve) => (failNow = resolve));
    const failing: TranscriptStore = {
      ...store,
      openSession: async () => {
        await held;
        throw new AgentsApiError('transcript.store_failed', 'The database went away.');
      },
    };
    const early = createSessionRunner({ store: failing, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
    const stream = await early.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    const seen: ConversationEvent['type'][] = [];
    const reading = (async () => {
      for await (const { event } of stream) {
        seen.push(event.type);
        if (event.type === 'tool_call_delta') failNow();
      }
    })();
    await expect(reading).rejects.toMatchObject({ code: 'transcript.store_failed' });
    await expect(stream.result).rejects.toMatchObject({ code: 'transcript.store_failed' });
    expect(seen).toContain('tool_call_delta');
    expect(seen).not.toContain('tool_result');
    expect(lookups).toBe(0);
    expect(await store.getSession(who, stream.session.id)).toBeUndefined();
  });

  it('leaves no unhandled rejection when the set-up of a start without a session id fails, whether the stream is read or cancelled', async () => {
    const who = owner();
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const failing: TranscriptStore = {
        ...store,
        openSession: async () => {
          throw new AgentsApiError('transcript.store_failed', 'The database went away.');
        },
      };
      const early = createSessionRunner({ store: failing, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
      server.enqueue(textReply('Hello.'), textReply('Hello.'));
      const read = await early.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
      await expect(consume(read)).rejects.toMatchObject({ code: 'transcript.store_failed' });
      const cancelled = await early.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
      await cancelled.cancel();
      // Rejections are reported once the microtasks of a turn have run: give it a few turns.
      for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it("gives the session as the run's last write returned it: no read after a run that ends with an answer", async () => {
    const who = owner();
    const { runner: counted, reads } = readCountingRunner();
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const stream = await counted.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    await consume(stream);
    const { session } = await stream.result;
    expect(reads()).toBe(0);
    expect(session).toEqual(await store.getSession(who, stream.session.id));
    expect(session.lastSeq).toBe(4);
  });

  it('reads the session for the result of a run that stored no answer only when the result is asked for', async () => {
    const who = owner();
    const { runner: counted, reads } = readCountingRunner();
    server.enqueue(textReply('one two three four five six seven eight'));
    const stream = await counted.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    // The consumer leaves at the first delta: its loop exits once the run has ended and the lease is released.
    await consume(stream, (event) => event.type === 'text_delta');
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads()).toBe(0);
    const { result, session } = await stream.result;
    expect(result.status).toBe('cancelled');
    expect(reads()).toBe(1);
    expect(session).toEqual(await store.getSession(who, stream.session.id));
    expect(stream.result).toBe(stream.result);
  });

  it('aborts nothing when the consumer reads the stream to its end: the run has ended', async () => {
    const who = owner();
    const base = providerFor(server);
    const signals: (AbortSignal | undefined)[] = [];
    const watched: ModelProvider = {
      name: base.name,
      complete: (request, callOptions) => base.complete(request, callOptions),
      stream: (request, callOptions) => {
        signals.push(callOptions?.signal);
        return base.stream(request, callOptions);
      },
    };
    const watching = createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider: watched, persister }) });
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const stream = await watching.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    await consume(stream);
    expect((await stream.result).result.status).toBe('completed');
    expect(signals).toHaveLength(2);
    expect(signals.map((signal) => signal?.aborted)).toEqual([false, false]);
  });

  it("stops the built-in loop's run on the loop's own abort controller: one per run before its model call, and a consumer that leaves still cancels it", async () => {
    const who = owner();
    const base = providerFor(server);
    let made = 0;
    const madeAtModelCall: number[] = [];
    const watched: ModelProvider = {
      name: base.name,
      complete: (request, callOptions) => base.complete(request, callOptions),
      stream: (request, callOptions) => {
        madeAtModelCall.push(made);
        return base.stream(request, callOptions);
      },
    };
    const counting = class extends AbortController {
      constructor() {
        super();
        made += 1;
      }
    };
    const watching = createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider: watched, persister }) });
    server.enqueue(textReply('Hello there, this is a longer answer.'));
    vi.stubGlobal('AbortController', counting);
    let stream: SessionStream;
    try {
      stream = await watching.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
      await consume(stream, (event) => event.type === 'text_delta');
      expect(madeAtModelCall).toEqual([1]);
      expect((await stream.result).result.status).toBe('cancelled');
    } finally {
      vi.unstubAllGlobals();
    }
    expect(await types(who, stream.session.id)).toEqual(['user:text']);
  });

  it("writes a step's tool results beside the next model call, and sends their events only once they are stored", async () => {
    const who = owner();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slowResults: TranscriptStore = {
      ...store,
      append: async (as, sessionId, messages, update, appendOptions) => {
        if (messages.every((message) => message.type === 'tool_result')) await released;
        return store.append(as, sessionId, messages, update, appendOptions);
      },
    };
    const behind = createSessionRunner({ store: slowResults, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const stream = await behind.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    const seen: SessionStreamEvent[] = [];
    const reading = (async () => {
      for await (const entry of stream) seen.push(entry);
    })();
    // The second model call goes out while the results' write is held.
    await waitFor(() => server.completionRequests().length === 2);
    expect(seen.map(({ event }) => event.type)).not.toContain('tool_result');
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:tool_call']);
    release();
    await reading;
    const order = seen.map(({ event }) => (event.type === 'message' ? `message:${event.message.type}` : event.type)).filter((type) => !type.endsWith('_delta'));
    expect(order).toEqual(['turn_start', 'message:tool_call', 'tool_call', 'message:tool_result', 'tool_result', 'turn_start', 'message:text', 'run_end']);
    expect(seen.map(({ event }) => event.index)).toEqual(seen.map((_, position) => position));
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:tool_call', 'tool:tool_result', 'assistant:text']);
    expect((await stream.result).result.status).toBe('completed');
  });

  it('ends the run failed when tool results written behind are not stored: their events are never sent and nothing after them is stored', async () => {
    const who = owner();
    const failingResults: TranscriptStore = {
      ...store,
      append: async (as, sessionId, messages, update, appendOptions) => {
        if (messages.every((message) => message.type === 'tool_result')) throw new AgentsApiError('transcript.store_failed', 'The database went away.');
        return store.append(as, sessionId, messages, update, appendOptions);
      },
    };
    const behind = createSessionRunner({ store: failingResults, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
    const stream = await behind.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    const seen = await consume(stream);
    const types_ = seen.map(({ event }) => (event.type === 'message' ? `message:${event.message.type}` : event.type));
    expect(types_).not.toContain('message:tool_result');
    expect(types_).not.toContain('tool_result');
    expect(types_).not.toContain('message:text');
    expect(seen.at(-1)?.event).toMatchObject({ type: 'run_end', result: { status: 'failed', failure: { code: 'runner.persist_failed' } } });
    // Ids go on from the last message the consumer was sent whole.
    expect(seen.at(-1)?.id.startsWith(`${seen.findLast(({ event }) => event.type === 'message')?.event.messageId}.`)).toBe(true);
    expect(await types(who, stream.session.id)).toEqual(['user:text', 'assistant:tool_call']);
    expect((await stream.result).result.status).toBe('failed');
  });

  it('refuses, before any event, a start without a session id whose request the store would refuse', async () => {
    const who = owner();
    const starting = sessions.stream.start({ owner: who, session: { agentSlug: 'weather', title: 'x'.repeat(501) }, input: [userSays('Hi')], principal, instructions });
    await expect(starting).rejects.toMatchObject({ code: 'transcript.invalid_request' });
    expect(server.completionRequests()).toEqual([]);
  });

  it('refuses, before any event, a start without a session id whose input repeats a message id, naming no session it never gave out', async () => {
    const who = owner();
    const said = userSays('Hi');
    const starting = sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [said, said], principal, instructions });
    await expect(starting).rejects.toMatchObject({ code: 'transcript.duplicate_message', details: { sessionId: '(new)', messageId: said.id } });
    expect(server.completionRequests()).toEqual([]);
  });

  it("checks an early start's open request once: the store is handed a request it takes as checked, and a copy of it is checked anew", async () => {
    const who = owner();
    const sent: OpenSessionRequest[] = [];
    const recording: TranscriptStore = { ...store, openSession: (as, request) => (sent.push(request), store.openSession(as, request)) };
    const checkedOnce = createSessionRunner({ store: recording, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
    server.enqueue(textReply('Hello.'));
    await consume(await checkedOnce.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions }));
    const [request] = sent;
    expect(request && parseOpenSession(request)).toBe(request);
    expect(request && parseOpenSession({ ...request })).not.toBe(request);
  });

  it("replays a keyed start's ended run to its retry: the same messages and result, no model call, nothing stored twice", async () => {
    const who = owner();
    const sessionId = `keyed-${randomUUID()}`;
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Lima' } }), textReply('Cloudy in Lima.'));
    const request = { owner: who, session: { id: sessionId, agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions, idempotencyKey: 'turn-1' };
    const first = await sessions.stream.start(request);
    const firstEvents = await consume(first);
    const calls = server.completionRequests().length;
    const retried = await sessions.stream.start({ ...request, input: [userSays('Weather?')] });
    const replayed = await consume(retried);
    expect(server.completionRequests()).toHaveLength(calls);
    expect(lookups).toBe(1);
    const messagesOf = (events: SessionStreamEvent[]) => events.flatMap(({ event }) => (event.type === 'message' ? [event.message.id] : []));
    expect(messagesOf(replayed)).toEqual(messagesOf(firstEvents));
    expect(replayed.at(-1)?.event).toMatchObject({ type: 'run_end', result: { status: 'completed', finalContent: 'Cloudy in Lima.' } });
    expect((await retried.result).runId).toBe((await first.result).runId);
    expect(await types(who, sessionId)).toEqual(['user:text', 'assistant:tool_call', 'tool:tool_result', 'assistant:text']);
    // The replayed ids are cursors too: a consumer that saw the replay's first message resumes after it.
    const missed: string[] = [];
    for await (const { event } of sessions.stream.replay(who, sessionId, replayed[0]?.id ?? '')) missed.push(event.messageId ?? '');
    expect(missed).toEqual(messagesOf(firstEvents).slice(1));
  });

  it("replays a keyed resume's ended run to its retry without a model call or a second copy of the input", async () => {
    const who = owner();
    server.enqueue(textReply('Hello.'));
    const started = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    await consume(started);
    server.enqueue(textReply('Paid.'));
    const request = { owner: who, sessionId: started.session.id, input: [userSays('Pay')], principal, instructions, idempotencyKey: 'job-7' };
    await consume(await sessions.stream.resume(request));
    const calls = server.completionRequests().length;
    const again = await sessions.stream.resume({ ...request, input: [userSays('Pay')] });
    expect((await consume(again)).at(-1)?.event).toMatchObject({ type: 'run_end', result: { status: 'completed', finalContent: 'Paid.' } });
    expect(server.completionRequests()).toHaveLength(calls);
    expect(await types(who, started.session.id)).toEqual(['user:text', 'assistant:text', 'user:text', 'assistant:text']);
  });

  it('sends no answer it could not store: a lease lost at the last write ends the run failed, the answer neither stored nor sent', async () => {
    const who = owner();
    // Another run takes the session just before the last write (the answer, the ending and the release in one).
    const takenAtTheEnd: TranscriptStore = {
      ...store,
      append: async (as, sessionId, messages, update, appendOptions) => {
        if (appendOptions?.endRun && appendOptions.lockToken) {
          await store.releaseLock(as, sessionId, appendOptions.lockToken);
          await store.acquireLock(as, sessionId, 60_000);
        }
        return store.append(as, sessionId, messages, update, appendOptions);
      },
    };
    const losing = createSessionRunner({ store: takenAtTheEnd, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
    server.enqueue(textReply('Never stored.'));
    const stream = await losing.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    const seen = await consume(stream);
    expect(seen.filter(({ event }) => event.type === 'message')).toEqual([]);
    expect(seen.at(-1)?.event).toMatchObject({ type: 'run_end', result: { status: 'failed', failure: { code: 'transcript.lease_lost' }, messages: [] } });
    expect((await stream.result).result).toMatchObject({ status: 'failed', failure: { code: 'transcript.lease_lost' } });
    expect(await types(who, stream.session.id)).toEqual(['user:text']);
    // The run stays open for a retry: a lost lease interrupts it, it does not end it.
    expect(await store.getRun(who, stream.session.id, (await stream.result).runId)).toMatchObject({ status: 'running', endedAt: null });
  });
});
