/**
 * `pnpm bench`: the built-in tool loop's overhead. A two-turn tool
 * conversation (the model calls a tool, then answers) through the loop,
 * against the same two requests made with the openai client directly, both
 * against the local OpenAI-compatible test server, which runs in a child
 * process as a real model server would, so its work is not counted as ours.
 *
 * The loop is measured as published: this imports the package's build
 * (`dist/`), as the openai client is its own build. Running TypeScript
 * source through a loader adds work to every closure that the build does not.
 */
import { fork } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMessage, createPrincipal, createToolLoopRunner, defineTool } from '@data-machine/agents-api';
import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { compareToBaseline } from '@data-machine/testkit';
import OpenAI from 'openai';
import { z } from 'zod';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
/** The latest modification time of any built file under `folder` (tests are not built). */
function newestModification(folder: string): number {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.test.ts'))
    .reduce((newest, entry) => Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs), 0);
}
/* statSync(`${packageRoot}/dist/index.js`, { throwIfNoEntry: false })?.mtimeMs ?? 0;
if (built < newestModification(`${packageRoot}/src`)) {
  process.stderr.write('tool-loop bench: dist/ is older than src/; run `pnpm build` first (`pnpm bench` at the root builds).\n');
  */

const child = fork(fileURLToPath(new URL('./weather-model-server.ts', import.meta.url)), { execArgv: process.execArgv });
const server = await new Promise<{ baseURL: string }>((resolve, reject) => {
  child.once('message', (message) => resolve(message as { baseURL: string }));
  child.once('error', reject);
});
const instructions = 'You are a weather assistant.';
const question = 'What is the weather in Paris?';
const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => `Sunny in ${city}`,
});
const principal = createPrincipal({
  userId: 'bench',
  tenantId: null,
  agentSlug: 'weather',
  authSource: 'user',
  requestContext: 'cli',
  tokenId: null,
  ceiling: { allowed: 'unrestricted', denied: [] },
  callerChain: [],
});

const client = new OpenAI({ apiKey: 'bench', baseURL: server.baseURL, maxRetries: 0 });
const toolsForClient: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'weather', description: 'The weather in a city', parameters: z.toJSONSchema(weather.input) as Record<string, unknown> },
  },
];

/** The baseline: the same two requests, by hand. */
async function direct(): Promise<void> {
  const messages: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'system', content: instructions },
    { role: 'user', content: question },
  ];
  const first = await client.chat.completions.create({ model: 'test-model', messages, tools: toolsForClient });
  const call = first.choices[0]?.message.tool_calls?.[0];
  if (!call || call.type !== 'function') throw new Error('expected a tool call');
  const { city } = JSON.parse(call.function.arguments) as { city: string };
  messages.push(first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: `Sunny in ${city}` });
  await client.chat.completions.create({ model: 'test-model', messages, tools: toolsForClient });
}

const runner = createToolLoopRunner({
  provider: createOpenAIProvider({ apiKey: 'bench', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 }),
});

async function throughLoop(): Promise<void> {
  const result = await runner.run({
    instructions,
    messages: [createMessage({ type: 'text', role: 'user', content: question, payload: {} })],
    tools: [weather],
    principal,
  });
  if (result.status !== 'completed') throw new Error(`run ended ${result.status}`);
}


for (let i = 0; i < 300; i++) { await throughLoop(); await direct(); }
const { Session } = await import('node:inspector/promises');
const session = new Session(); session.connect();
await session.post('Profiler.enable'); await session.post('Profiler.setSamplingInterval', { interval: 50 }); await session.post('Profiler.start');
for (let i = 0; i < 1500; i++) await throughLoop();
const { profile } = await session.post('Profiler.stop');
const { writeFileSync } = await import('node:fs');
writeFileSync('/tmp/stream-prof/loop.cpuprofile', JSON.stringify(profile));
child.disconnect();
