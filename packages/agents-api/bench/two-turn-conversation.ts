/**
 * The two sides of the durable bench's two-turn tool conversation, shared by
 * `durable-stream.bench.ts` and `conversation-probe.ts`: the durable one through
 * `sessions.stream.start`, and the baseline, the same two streaming calls with
 * the `openai` client and the same messages written with plain INSERTs.
 */
import { createRequire } from 'node:module';
import { createMessage, createSessionRunner, createToolLoopRunner, type AgentMessage, type SessionRunner, type ToolLoopRunner } from '@data-machine/agents-api';
import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { createPostgresTranscriptStore, migrateAgentsApi, withNamedStatements, type AgentsApiDatabase, type NamingPostgresPool } from '@data-machine/agents-api/postgres';
import { Kysely, PostgresDialect, sql } from 'kysely';
import OpenAI from 'openai';
import { instructions, principal, question, toolsForClient, weather } from './weather-agent';

/** What both benches share: the conversation's two sides and what they are made of. */
export interface TwoTurnConversation {
  /** The baseline: the two streaming calls by hand, each message written with a plain INSERT as it completes. */
  readonly direct: () => Promise<void>;
  /** The same conversation through `sessions.stream.start`, read to its `run_end`. */
  readonly durable: () => Promise<void>;
  readonly client: OpenAI;
  readonly sessions: SessionRunner;
  /** The same loop and provider as the durable side, with nothing stored: what the durable layer adds is measured over it. */
  readonly loop: ToolLoopRunner;
  readonly toolsForClient: OpenAI.ChatCompletionTool[];
  readonly startRequest: (content: string) => Parameters<SessionRunner['stream']['start']>[0];
  readonly instructions: string;
}

// `pg` is the testkit's dependency, not this package's: resolved from there.
const { Pool } = createRequire(import.meta.resolve('@data-machine/testkit'))('pg') as {
  Pool: new (config: { connectionString: string; max: number }) => NamingPostgresPool & { on(event: 'error', listener: (error: Error & { code?: string }) => void): void };
};

/** A kysely on the database at `url` as a host wires it (apps/server): the store's hot calls as named statements. */
export function connectAsHost(url: string): Kysely<AgentsApiDatabase> {
  const pool = new Pool({ connectionString: url, max: 10 });
  // As in the testkit's `connect`: the forced drop of the database at the end terminates a
  // connection still closing (57P01), which `pg` reports on the pool.
  pool.on('error', (error) => {
    if (error.code !== '57P01') throw error;
  });
  return new Kysely<AgentsApiDatabase>({ dialect: new PostgresDialect({ pool: withNamedStatements(pool) }) });
}

/** Migrates `db`, makes the baseline's two tables and returns both sides, talking to the model server at `baseURL`. */
export async function setUpTwoTurnConversation(db: Kysely<AgentsApiDatabase>, baseURL: string): Promise<TwoTurnConversation> {
  await migrateAgentsApi(db);
  await sql`create table bench_plain_sessions (id text primary key, user_id text, body jsonb not null)`.execute(db);
  await sql`create table bench_plain_messages (session_id text not null, seq integer not null, body jsonb not null)`.execute(db);
  const plain = db as unknown as Kysely<{
    bench_plain_sessions: { id: string; user_id: string; body: string };
    bench_plain_messages: { session_id: string; seq: number; body: string };
  }>;

  const owner = { userId: 'bench', tenantId: null };
  const userSays = (content: string): AgentMessage => createMessage({ type: 'text', role: 'user', content, payload: {} });

  const client = new OpenAI({ apiKey: 'bench', baseURL, maxRetries: 0 });
  let plainSessions = 0;

  /** One streaming call with the openai client, as the provider makes it: text and tool calls put together from the deltas. */
  async function streamedCall(messages: OpenAI.ChatCompletionMessageParam[]): Promise<{ content: string; toolCalls: { id: string; name: string; arguments: string }[] }> {
    const stream = await client.chat.completions.create({ model: 'test-model', messages, tools: toolsForClient, stream: true, stream_options: { include_usage: true } });
    let content = '';
    const toolCalls: { id: string; name: string; arguments: string }[] = [];
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta;
      if (delta?.content) content += delta.content;
      for (const call of delta?.tool_calls ?? []) {
        const entry = (toolCalls[call.index] ??= { id: '', name: '', arguments: '' });
        if (call.id) entry.id = call.id;
        if (call.function?.name) entry.name = call.function.name;
        if (call.function?.arguments) entry.arguments += call.function.arguments;
      }
    }
    return { content, toolCalls };
  }

  async function direct(): Promise<void> {
    const sessionId = `plain-${(plainSessions += 1)}`;
    let seq = 0;
    const write = (message: AgentMessage) => plain.insertInto('bench_plain_messages').values({ session_id: sessionId, seq: ++seq, body: JSON.stringify(message) }).execute();
    await plain.insertInto('bench_plain_sessions').values({ id: sessionId, user_id: 'bench', body: JSON.stringify({ agentSlug: 'weather' }) }).execute();
    const input = userSays(question);
    await write(input);
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: instructions },
      { role: 'user', content: question },
    ];
    const first = await streamedCall(messages);
    const call = first.toolCalls[0];
    if (!call) throw new Error('expected a tool call');
    await write(createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [call] } }));
    const { city } = JSON.parse(call.arguments) as { city: string };
    const result = `Sunny in ${city}`;
    await write(createMessage({ type: 'tool_result', role: 'tool', content: result, payload: { toolCallId: call.id, toolName: call.name, isError: false } }));
    messages.push(
      { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] },
      { role: 'tool', tool_call_id: call.id, content: result },
    );
    const second = await streamedCall(messages);
    await write(createMessage({ type: 'text', role: 'assistant', content: second.content, payload: {} }));
  }

  const provider = createOpenAIProvider({ apiKey: 'bench', baseURL, model: 'test-model', maxRetries: 0 });
  const sessions = createSessionRunner({
    store: createPostgresTranscriptStore({ db }),
    createRunner: (persister) => createToolLoopRunner({ provider, persister }),
  });
  const startRequest = (content: string) => ({ owner, session: { agentSlug: 'weather' }, input: [userSays(content)], principal, tools: [weather], instructions });

  async function durable(): Promise<void> {
    const stream = await sessions.stream.start(startRequest(question));
    let last: string | undefined;
    for await (const { event } of stream) last = event.type === 'run_end' ? event.result.status : last;
    if (last !== 'completed') throw new Error(`run ended ${String(last)}`);
  }

  return { direct, durable, client, sessions, loop: createToolLoopRunner({ provider }), toolsForClient, startRequest, instructions };
}
