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
import { compareToBaseline, createTestDatabase, probePostgres, type MeasuredRun } from '@data-machine/testkit';
import { connectAsHost, setUpTwoTurnConversation } from './two-turn-conversation';

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
// Both sides on one kysely, wired as the server wires its own (named statements for the store's calls).
const db = connectAsHost(database.url ?? '');
const { direct, durable, client, sessions, loop, toolsForClient, startRequest, instructions } = await setUpTwoTurnConversation(db, server.baseURL);
/** The model server answers this with text at once (see `weather-model-server.ts`). */
const greeting = 'Say hello.';

/**
 * The time from `started` to the first item of `items` that `isText` picks, leaving the stream
 * there: what leaving costs afterwards is not counted (see `MeasuredRun`).
 */
async function firstTextDelta<Item>(started: number, items: AsyncIterable<Item>, isText: (item: Item) => boolean, side: string): Promise<MeasuredRun> {
  for await (const item of items) if (isText(item)) return { measuredMs: performance.now() - started };
  throw new Error(`${side} ended without a text delta`);
}

/** From the request to its first text delta with the openai client. */
async function bareFirstDelta(): Promise<MeasuredRun> {
  const started = performance.now();
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
  return firstTextDelta(started, stream, (chunk) => Boolean(chunk.choices[0]?.delta.content), 'the bare stream');
}

/** From `stream.start` to the first text delta; the cancel and lock release after leaving are not counted, as the bare side's teardown is not. */
async function durableFirstDelta(): Promise<MeasuredRun> {
  const started = performance.now();
  const stream = await sessions.stream.start(startRequest(greeting));
  return firstTextDelta(started, stream, ({ event }) => event.type === 'text_delta', 'the durable stream');
}

/** The same one-turn answer through the tool loop's own `stream()`, with nothing stored: the durable layer's floor. */
async function loopFirstDelta(): Promise<MeasuredRun> {
  const { input, principal, tools } = startRequest(greeting);
  const started = performance.now();
  return firstTextDelta(started, loop.stream({ messages: input, principal, tools, instructions }), (event) => event.type === 'text_delta', 'the loop');
}

const bare = { label: 'bare openai streaming call', run: bareFirstDelta };
const durableStream = { label: 'sessions.stream.start', run: durableFirstDelta };
const loopStream = { label: 'tool loop stream(), nothing stored', run: loopFirstDelta };
const lines: readonly Parameters<typeof compareToBaseline>[0][] = [
  {
    name: 'agents-api durable stream, two-turn tool conversation [postgres]',
    baseline: { label: 'openai client streaming + plain INSERTs', run: direct },
    subject: { label: 'sessions.stream.start', run: durable },
    target: 1.3,
  },
  { name: 'agents-api durable stream, time to first text delta [postgres]', baseline: bare, subject: durableStream, target: 1.2 },
  // The same gap in two parts (no targets): the loop's own stream over the bare call, and the durable layer over the loop.
  { name: 'agents-api tool loop stream, time to first text delta (nothing stored)', baseline: bare, subject: loopStream },
  { name: 'agents-api durable stream over the tool loop stream, time to first text delta [postgres]', baseline: loopStream, subject: durableStream },
];

try {
  for (const line of lines) await compareToBaseline({ ...line, warmup: 30, rounds: 150 });
} finally {
  await db.destroy();
  await database.destroy();
  child.disconnect();
}
