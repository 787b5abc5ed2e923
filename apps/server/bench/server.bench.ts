/**
 * `pnpm bench` in the server: two comparisons per database (PGlite always,
 * Postgres when it answers), each one line in `compareToBaseline`'s format.
 *
 * 1. Requests per second of an authenticated `GET /agents/{agent}` (bearer
 *    token, tenant scope, the agent's read permission and row) against a bare
 *    Fastify route in the same process, both over a socket with the same
 *    client and concurrency. `compareToBaseline` compares times, so the line's
 *    ratio is time per batch, the inverse of the requests-per-second ratio:
 *    its target 2 is a requests-per-second ratio of at least 0.5.
 * 2. Time to the first streamed text delta of a chat turn (`POST
 *    /agents/{agent}/chat`: authentication, the chat authorization, the
 *    agent's configuration, the durable session's set-up and the model call)
 *    against a bare streaming call to the same local model server with the
 *    openai client (target < 1.2). Both sides read their stream to the end;
 *    only the time to the first delta is counted (`MeasuredRun`).
 * 3. The transport floor of (2), once: a bare Fastify route (no hooks, no
 *    database) that proxies the same model stream as server-sent events, as
 *    the chat route writes them, against the same bare call; and, per
 *    database, the chat turn against that proxy: what the HTTP hop costs, and
 *    what the server adds over it. Every side is read by the same client to
 *    its first text delta.
 *
 * The model server runs in a child process, so it does not share the measured event loop.
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { compareToBaseline, probePostgres, type DatabaseBackend, type MeasuredRun } from '@data-machine/testkit';
import Fastify from 'fastify';
import OpenAI from 'openai';
import { createChatModelProvider } from '../src/chat/chat-model-provider';
import { openEventStream } from '../src/chat/server-sent-events';
import { buildApp } from '../src/http/app';
import { createBenchDatabase } from './bench-database';
import { sendGets } from './send-gets';

/** Requests in flight at once in a batch of the requests-per-second comparison. */
const concurrency = 8;
/** Requests per batch (one timed run) of the requests-per-second comparison. */
const batchSize = 64;

const child = fork(fileURLToPath(new URL('./model-server-process.ts', import.meta.url)), { execArgv: process.execArgv });
const model = await new Promise<{ baseURL: string }>((resolve, reject) => {
  child.once('message', (message) => resolve(message as { baseURL: string }));
  child.once('error', reject);
});
const client = new OpenAI({ apiKey: 'bench', baseURL: model.baseURL, maxRetries: 0 });

const bare = Fastify();
bare.get('/bare', async () => ({ ok: true }));
// The transport floor: the model's stream relayed as the chat route writes its events (the first delta let out at once).
bare.post('/proxy', async (_request, reply) => {
  const events = openEventStream(reply);
  const stream = await client.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'Say hello.' }], stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    const text = chunk.choices[0]?.delta.content;
    if (!text) continue;
    events.send({ event: 'text_delta', data: { text } });
    await events.flushOnce();
  }
  events.end();
  return reply;
});
await bare.listen({ port: 0, host: '127.0.0.1' });
const bareBase = `http://127.0.0.1:${(bare.server.address() as AddressInfo).port}`;
const bareUrl = `${bareBase}/bare`;

/** Sends `batchSize` GETs to `url`, `concurrency` at a time, reading each body. */
const batch = (url: string, headers: Record<string, string>) => sendGets(url, headers, batchSize, concurrency);

/** The baseline of the chat comparison: one streaming call to the model server, to its first text delta. */
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

/** One POST whose answer is an event stream, read to its end; measured to its first `text_delta` event. */
async function firstDeltaOver(url: string, headers: Record<string, string>, body: unknown): Promise<MeasuredRun> {
  const started = performance.now();
  let measuredMs = Number.NaN;
  const response = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok || !response.body) throw new Error(`${url} answered ${response.status}`);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    if (Number.isNaN(measuredMs) && text.includes('event: text_delta')) measuredMs = performance.now() - started;
  }
  if (Number.isNaN(measuredMs)) throw new Error(`${url} ended without a text delta`);
  return { measuredMs };
}

/** The floor of the chat comparison: the model stream relayed by the bare proxy route. */
const proxyFirstDelta = () => firstDeltaOver(`${bareBase}/proxy`, {}, { message: 'Say hello.' });

async function benchOn(backend: DatabaseBackend): Promise<void> {
  const { appDatabase, context, secret, close } = await createBenchDatabase(backend, 'bench');
  const app = buildApp({
    database: appDatabase,
    context,
    rateLimit: { max: 1_000_000_000, windowMs: 60_000 },
    chat: createChatModelProvider({ baseUrl: model.baseURL, apiKey: 'bench', defaultModel: 'test-model', maxRetries: 0 }),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const authorization = { authorization: `Bearer ${secret}` };

  /** The subject of the chat comparison: one chat turn in a new session over HTTP, to its first `text_delta` event. */
  const chatFirstDelta = () => firstDeltaOver(`${base}/agents/default/chat`, authorization, { message: 'Say hello.' });

  try {
    await compareToBaseline({
      name: `server GET /agents/{agent}, time per ${batchSize} requests ${concurrency} at a time (requests-per-second ratio = 1 / ratio; target ratio < 2 is >= 0.5) [${backend}]`,
      baseline: { label: 'bare Fastify route', run: () => batch(bareUrl, {}) },
      subject: { label: 'authenticated GET /agents/default', run: () => batch(`${base}/agents/default`, authorization) },
      target: 2,
      warmup: 5,
      rounds: 40,
      perRound: 1,
    });
    await compareToBaseline({
      name: `server chat turn, time to first text delta [${backend}]`,
      baseline: { label: 'bare openai streaming call', run: bareFirstDelta },
      subject: { label: 'POST /agents/{agent}/chat', run: chatFirstDelta },
      target: 1.2,
      warmup: 20,
      rounds: 60,
    });
    await compareToBaseline({
      name: `server chat turn over its transport floor, time to first text delta [${backend}]`,
      baseline: { label: 'bare Fastify proxy of the model stream', run: proxyFirstDelta },
      subject: { label: 'POST /agents/{agent}/chat', run: chatFirstDelta },
      warmup: 20,
      rounds: 60,
    });
  } finally {
    await app.close();
    await close();
  }
}

try {
  await compareToBaseline({
    name: 'server chat transport floor (no database), time to first text delta',
    baseline: { label: 'bare openai streaming call', run: bareFirstDelta },
    subject: { label: 'bare Fastify proxy of the model stream', run: proxyFirstDelta },
    warmup: 20,
    rounds: 60,
  });
  await benchOn('pglite');
  if (await probePostgres()) await benchOn('postgres');
  else process.stdout.write('server bench: Postgres does not answer; its lines are skipped.\n');
} finally {
  await bare.close();
  child.disconnect();
}
