/**
 * `pnpm bench`: durable streaming on Postgres. Skipped when Postgres does not answer.
 * - Total: a streamed two-turn tool conversation through `sessions.stream.start`
 *   (session, lock, input, each message stored as it completes), against the
 *   same two streaming calls made with the openai client and the same
 *   messages written with plain INSERTs on the same database (target < 1.3).
 * - Time to the first text delta of a one-turn answer, against a bare
 *   streaming call with the openai client (target < 1.2). Each side reports
 *   its own time from the call to the first delta (`MeasuredRun`); what
 *   leaving costs afterwards (closing the response; for the durable side the
 *   cancel and lock release) is not counted on either side.
 *
 * As in `tool-loop.bench.ts`, the model server runs in a child process and
 * the package is imported from its build.
 */
import { fork } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createMessage, createPrincipal, createSessionRunner, createToolLoopRunner, defineTool, type AgentMessage } from '@data-machine/agents-api';
import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { createPostgresTranscriptStore, migrateAgentsApi, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { compareToBaseline, createTestDatabase, probePostgres, type MeasuredRun } from '@data-machine/testkit';
import { sql, type Kysely } from 'kysely';
import OpenAI from 'openai';
import { z } from 'zod';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
function newestModification(folder: string): number {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.test.ts'))
    .reduce((newest, entry) => Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs), 0);
}
const built = statSync(`${packageRoot}/dist/index.js`, { throwIfNoEntry: false })?.mtimeMs ?? 0;
if (built < newestModification(`${packageRoot}/src`)) {
  process.stderr.write('durable-stream bench: dist/ is older than src/; run `pnpm build` first (`pnpm bench` at the root builds).\n');
  process.exit(1);
}
if (!(await probePostgres())) {
  process.stdout.write('durable-stream bench: Postgres does not answer; skipped.\n');
  process.exit(0);
}

const child = fork(fileURLToPath(new URL('./weather-model-server.ts', import.meta.url)), { execArgv: process.execArgv });
const server = await new Promise<{ baseURL: string }>((resolve, reject) => {
  child.once('message', (message) => resolve(message as { baseURL: string }));
  child.once('error', reject);
});
const database = await createTestDatabase('postgres');
const db = database.db as Kysely<AgentsApiDatabase>;
await migrateAgentsApi(db);
await sql`create table bench_plain_sessions (id text primary key, user_id text, body jsonb not null)`.execute(db);
await sql`create table bench_plain_messages (session_id text not null, seq integer not null, body jsonb not null)`.execute(db);
const plain = db as unknown as Kysely<{
  bench_plain_sessions: { id: string; user_id: string; body: string };
  bench_plain_messages: { session_id: string; seq: number; body: string };
}>;

const instructions = 'You are a weather assistant.';
const question = 'What is the weather in Paris?';
/** The model server answers this with text at once (see `weather-model-server.ts`). */
const greeting = 'Say hello.';
const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => `Sunny in ${city}`,
});
const principal = createPrincipal({
  userId: 'bench',
  agentSlug: 'weather',
  authSource: 'user',
  requestContext: 'cli',
  tokenId: null,
  ceiling: { allowed: 'unrestricted', denied: [] },
  callerChain: [],
});
const owner = { userId: 'bench', tenantId: null };
const userSays = (content: string): AgentMessage => createMessage({ type: 'text', role: 'user', content, payload: {} });

const client = new OpenAI({ apiKey: 'bench', baseURL: server.baseURL, maxRetries: 0 });
const toolsForClient: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'weather', description: 'The weather in a city', parameters: z.toJSONSchema(weather.input) as Record<string, unknown> } },
];
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

/** The baseline: the same two streaming calls by hand, and the same messages written with plain INSERTs as they complete. */
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

const provider = createOpenAIProvider({ apiKey: 'bench', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
const sessions = createSessionRunner({
  store: createPostgresTranscriptStore({ db }),
  createRunner: (persister) => createToolLoopRunner({ provider, persister }),
});

async function durable(): Promise<void> {
  const stream = await sessions.stream.start({ owner, session: { agentSlug: 'weather' }, input: [userSays(question)], principal, tools: [weather], instructions });
  let last: string | undefined;
  for await (const { event } of stream) last = event.type === 'run_end' ? event.result.status : last;
  if (last !== 'completed') throw new Error(`run ended ${String(last)}`);
}

/** From the request to its first text delta; leaving the stream afterwards is not counted (see `MeasuredRun`). */
async function bareFirstDelta(): Promise<MeasuredRun> {
  const started = performance.now();
  let measuredMs = Number.NaN;
  const stream = await client.chat.completions.create({
    model: 'test-model',
    messages: [
      { role: 'system', content: instructions },
      { role: 'user', content: greeting },
    ],
    tools: toolsForClient,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta.content) {
      measuredMs = performance.now() - started;
      break;
    }
  }
  if (Number.isNaN(measuredMs)) throw new Error('the bare stream ended without a text delta');
  return { measuredMs };
}

/** From `stream.start` to the first text delta; the cancel and lock release after leaving are not counted, as the bare side's teardown is not. */
async function durableFirstDelta(): Promise<MeasuredRun> {
  const started = performance.now();
  let measuredMs = Number.NaN;
  const stream = await sessions.stream.start({ owner, session: { agentSlug: 'weather' }, input: [userSays(greeting)], principal, tools: [weather], instructions });
  for await (const { event } of stream) {
    if (event.type === 'text_delta') {
      measuredMs = performance.now() - started;
      break;
    }
  }
  if (Number.isNaN(measuredMs)) throw new Error('the durable stream ended without a text delta');
  return { measuredMs };
}

try {
  await compareToBaseline({
    name: 'agents-api durable stream, two-turn tool conversation [postgres]',
    baseline: { label: 'openai client streaming + plain INSERTs', run: direct },
    subject: { label: 'sessions.stream.start', run: durable },
    target: 1.3,
    warmup: 30,
    rounds: 150,
  });
  await compareToBaseline({
    name: 'agents-api durable stream, time to first text delta [postgres]',
    baseline: { label: 'bare openai streaming call', run: bareFirstDelta },
    subject: { label: 'sessions.stream.start', run: durableFirstDelta },
    target: 1.2,
    warmup: 30,
    rounds: 150,
  });
} finally {
  await database.destroy();
  child.disconnect();
}
