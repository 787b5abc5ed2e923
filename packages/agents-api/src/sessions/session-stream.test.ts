import { describeEachDatabase, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import type { AgentsApiDatabase } from '../database/agents-api-database';
import { migrateAgentsApi } from '../database/agents-api-migrations';
import { createMessage, type AgentMessage } from '../messages/message';
import { createOpenAIProvider } from '../providers/openai-provider';
import type { ConversationEvent } from '../runner/conversation-runner';
import { createToolLoopRunner } from '../runner/tool-loop-runner';
import { defineTool } from '../tools/define-tool';
import { createPostgresTranscriptStore } from '../transcripts/postgres-transcript-store';
import type { SessionOwner, TranscriptStore } from '../transcripts/transcript-store';
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
    const provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
    sessions = createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider, persister }) });
  });
  const types = async (who: SessionOwner, sessionId: string) => (await store.loadMessages(who, sessionId)).map(({ message }) => `${message.role}:${message.type}`);

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
    server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Oslo' } }));
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Weather?')], principal, tools, instructions });
    await consume(stream, (event) => event.type === 'tool_result');
    expect((await stream.result).result.status).toBe('cancelled');
    // The model was never asked again: the run stopped before its second turn.
    expect(server.completionRequests()).toHaveLength(1);

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

  it('releases the lock of a stream that is cancelled before it is iterated', async () => {
    const who = owner();
    const stream = await sessions.stream.start({ owner: who, session: { agentSlug: 'weather' }, input: [userSays('Hi')], principal, instructions });
    await stream.cancel();
    await expect(stream.result).rejects.toMatchObject({ code: 'transcript.invalid_request' });
    server.enqueue(textReply('Hello.'));
    const resumed = await sessions.stream.resume({ owner: who, sessionId: stream.session.id, principal, instructions });
    await consume(resumed);
    expect((await resumed.result).result.status).toBe('completed');
    expect(server.completionRequests()).toHaveLength(1);
  });
});
