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
import { createMessage, createToolLoopRunner } from '@data-machine/agents-api';
import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { compareToBaseline } from '@data-machine/testkit';
import OpenAI from 'openai';
import { instructions, principal, question, toolsForClient, weather } from './weather-agent';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
/** The latest modification time of any built file under `folder` (tests are not built). */
function newestModification(folder: string): number {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.test.ts'))
    .reduce((newest, entry) => Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs), 0);
}
const built = statSync(`${packageRoot}/dist/index.js`, { throwIfNoEntry: false })?.mtimeMs ?? 0;
if (built < newestModification(`${packageRoot}/src`)) {
  process.stderr.write('tool-loop bench: dist/ is older than src/; run `pnpm build` first (`pnpm bench` at the root builds).\n');
  process.exit(1);
}

const child = fork(fileURLToPath(new URL('./weather-model-server.ts', import.meta.url)), { execArgv: process.execArgv });
const server = await new Promise<{ baseURL: string }>((resolve, reject) => {
  child.once('message', (message) => resolve(message as { baseURL: string }));
  child.once('error', reject);
});
const client = new OpenAI({ apiKey: 'bench', baseURL: server.baseURL, maxRetries: 0 });
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

await compareToBaseline({
  name: 'agents-api tool loop, two-turn tool conversation',
  baseline: { label: 'openai client directly', run: direct },
  subject: { label: 'through the loop', run: throughLoop },
  target: 1.1,
  // 600 rounds rather than the default 200: one round is a few milliseconds,
  // and with 200 a run now and then strayed by 5 % from the others.
  rounds: 600,
});
child.disconnect();
