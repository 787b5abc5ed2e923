/**
 * `pnpm bench`: the built-in tool loop's overhead. A two-turn tool
 * conversation (the model calls a tool, then answers) through the loop,
 * against the same two requests made with the openai client directly, both
 * against the local OpenAI-compatible test server, which runs in a child
 * process as a real model server would, so its work is not counted as ours.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compareToBaseline } from '@data-machine/testkit';
import OpenAI from 'openai';
import { z } from 'zod';
import { createMessage } from '../src/messages/message';
import { createPrincipal } from '../src/permissions/caller-chain';
import { createOpenAIProvider } from '../src/providers/openai-provider';
import { createToolLoopRunner } from '../src/runner/tool-loop-runner';
import { defineTool } from '../src/tools/define-tool';

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

await compareToBaseline({
  name: 'agents-api tool loop, two-turn tool conversation',
  baseline: { label: 'openai client directly', run: direct },
  subject: { label: 'through the loop', run: throughLoop },
  target: 1.1,
});
child.disconnect();
