/**
 * `pnpm bench` in the server: time to the first streamed text delta of a chat
 * turn (`POST /agents/{agent}/chat` over a socket: authentication, the chat
 * authorization, the agent's configuration, the durable session's set-up and
 * the model call) against a bare streaming call to the same local model
 * server with the openai client (target < 1.2). Both sides read their stream
 * to the end; only the time to the first delta is counted (`MeasuredRun`).
 * On Postgres; skipped when it does not answer. The model server runs in a
 * child process.
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { compareToBaseline, createTestDatabase, probePostgres, type MeasuredRun } from '@data-machine/testkit';
import { createDataMachineContext, createTenant, createUser, createUserToken, type DataMachineDatabase } from 'data-machine';
import { sql, type Kysely } from 'kysely';
import OpenAI from 'openai';
import { createChatModelProvider } from '../src/chat/chat-model-provider';
import { migrateAll } from '../src/database/migrate';
import { buildApp } from '../src/http/app';

if (!(await probePostgres())) {
  process.stdout.write('chat bench: Postgres does not answer; skipped.\n');
  process.exit(0);
}
const child = fork(fileURLToPath(new URL('./model-server-process.ts', import.meta.url)), { execArgv: process.execArgv });
const model = await new Promise<{ baseURL: string }>((resolve, reject) => {
  child.once('message', (message) => resolve(message as { baseURL: string }));
  child.once('error', reject);
});
const database = await createTestDatabase('postgres');
const db = database.db as Kysely<DataMachineDatabase>;
await migrateAll(db);
const context = createDataMachineContext({ db, logger: { warn: () => undefined } });
const system = { kind: 'system', channel: 'cli', reason: 'bench' } as const;
const owner = await createUser(context, system, { email: 'bench@example.test', displayName: 'Bench' });
await createTenant(context, system, { slug: 'bench', name: 'Bench', ownerUserId: owner.id });
const { secret } = await createUserToken(context, system, { label: 'bench', forUserId: owner.id });
const app = buildApp({
  database: { backend: 'postgres', db, ping: async () => (await sql`select 1`.execute(db)).rows.length === 1, close: async () => undefined },
  context,
  rateLimit: { max: 1_000_000_000, windowMs: 60_000 },
  chat: createChatModelProvider({ baseUrl: model.baseURL, apiKey: 'bench', defaultModel: 'test-model', maxRetries: 0 }),
});
await app.listen({ port: 0, host: '127.0.0.1' });
const chatUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/agents/default/chat`;
const client = new OpenAI({ apiKey: 'bench', baseURL: model.baseURL, maxRetries: 0 });

/** The baseline: one streaming call to the model server, to its first text delta. */
async function bareFirstDelta(): Promise<MeasuredRun> {
  const started = performance.now();
  let measuredMs = Number.NaN;
  const stream = await client.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'Say hello.' }], stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    if (Number.isNaN(measuredMs) && chunk.choices[0]?.delta.content) measuredMs = performance.now() - started;
  }
  if (Number.isNaN(measuredMs)) throw new Error('the bare stream ended without a text delta');
  return { measuredMs };
}

/** The subject: one chat turn in a new session over HTTP, to its first `text_delta` event. */
async function chatFirstDelta(): Promise<MeasuredRun> {
  const started = performance.now();
  let measuredMs = Number.NaN;
  const response = await fetch(chatUrl, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Say hello.' }) });
  if (!response.ok || !response.body) throw new Error(`chat answered ${response.status}`);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    if (Number.isNaN(measuredMs) && text.includes('event: text_delta')) measuredMs = performance.now() - started;
  }
  if (Number.isNaN(measuredMs)) throw new Error('the chat stream ended without a text delta');
  return { measuredMs };
}

try {
  await compareToBaseline({
    name: 'server chat turn, time to first text delta [postgres]',
    baseline: { label: 'bare openai streaming call', run: bareFirstDelta },
    subject: { label: 'POST /agents/{agent}/chat', run: chatFirstDelta },
    target: 1.2,
    warmup: 30,
    rounds: 100,
  });
} finally {
  await app.close();
  child.disconnect();
  await database.destroy();
}
