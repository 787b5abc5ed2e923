// A probe of `sessions.stream.start`'s CPU before its model request (not part of `pnpm bench`; see
// docs/decisions/2026-11-30-durable-streaming.md, "stop 27"). Run after a build with
// `node --import tsx bench/start-probe.ts [other-dist ...]`: each build named (this package's
// `dist`, then each folder given: a copy of another build's `dist`, placed inside this package's
// folder so that it resolves the same dependencies) runs the durable bench's one-turn answer on
// Postgres, the builds alternated in blocks of five, PROBE_ROUNDS (60) rounds. Per run, medians of
// the Node CPU (`process.cpuUsage`) from the call of `start` to: its return (its synchronous part),
// the model request's creation (undici's `undici:request:create`), the first text delta; the wall
// time of the synchronous part and to the first delta. The tool loop's own `stream()` of each build
// beside it. `process.cpuUsage` counts every thread of the process (the collector's, the compiler's),
// so single runs are noisy: read the medians, and alternate builds, as this does.
// PROBE_COLD=1 writes 16 MB before each run, so the run finds the caches as a run that waited on
// the network does. PROBE=sync: no network and no database (the in-memory store, a model that never
// answers, each stream cancelled unread), blocks of 50, the CPU of `start`'s synchronous part and to
// the model call (the loop's `stream()` read past `turn_start` beside it), PROBE_ROUNDS (40) rounds.
import diagnosticsChannel from 'node:diagnostics_channel';
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as agentsApi from '@data-machine/agents-api';
import type * as agentsApiOpenAI from '@data-machine/agents-api/openai';
import type * as agentsApiPostgres from '@data-machine/agents-api/postgres';
import { createTestDatabase } from '@data-machine/testkit';
import { z } from 'zod';
import { loadAverage } from './process-cpu';
import { connectAsHost } from './two-turn-conversation';

type Api = typeof agentsApi;
type OpenAIApi = typeof agentsApiOpenAI;
type PostgresApi = typeof agentsApiPostgres;

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const builds = [resolve(packageRoot, 'dist'), ...process.argv.slice(2).map((folder) => resolve(folder))];
const syncOnly = process.env.PROBE === 'sync';
const rounds = Number(process.env.PROBE_ROUNDS ?? (syncOnly ? 40 : 60));
const block = syncOnly ? 50 : 5;
const cold = process.env.PROBE_COLD === '1';
const scratch = Buffer.alloc(16 * 1024 * 1024);
const instructions = 'You are a weather assistant.';
const greeting = 'Say hello.';

const cpuUs = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};
let requestCreated: number | undefined;
diagnosticsChannel.subscribe('undici:request:create', () => {
  requestCreated ??= cpuUs();
});

interface Sample {
  readonly sync: number;
  readonly request: number;
  readonly delta: number;
  readonly wallMs: number;
  /** Wall time of the synchronous part, in µs. */
  readonly syncWall: number;
}
interface Side {
  readonly label: string;
  readonly run: () => Promise<Sample>;
  readonly samples: Sample[];
}

const child = fork(fileURLToPath(new URL('./weather-model-server.ts', import.meta.url)), { execArgv: process.execArgv });
const server = await new Promise<{ baseURL: string }>((settle) => child.once('message', (message) => settle(message as { baseURL: string })));
const database = await createTestDatabase('postgres');
const connections: { destroy(): Promise<void> }[] = [];

async function sidesOf(folder: string, name: string): Promise<Side[]> {
  const api = (await import(pathToFileURL(`${folder}/index.js`).href)) as Api;
  const { createOpenAIProvider } = (await import(pathToFileURL(`${folder}/openai.js`).href)) as OpenAIApi;
  const postgres = (await import(pathToFileURL(`${folder}/postgres.js`).href)) as PostgresApi;
  const db = connectAsHost(database.url ?? '');
  connections.push(db);
  await postgres.migrateAgentsApi(db);
  const principal = api.createPrincipal({ userId: 'probe', tenantId: null, agentSlug: 'weather', authSource: 'user', requestContext: 'cli', tokenId: null, ceiling: { allowed: 'unrestricted', denied: [] }, callerChain: [] });
  const weather = api.defineTool({ name: 'weather', description: 'The weather in a city', input: z.object({ city: z.string() }), execute: ({ city }) => `Sunny in ${city}` });
  const provider = createOpenAIProvider({ apiKey: 'probe', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
  const sessions = api.createSessionRunner({ store: postgres.createPostgresTranscriptStore({ db }), createRunner: (persister) => api.createToolLoopRunner({ provider, persister }) });
  const loop = api.createToolLoopRunner({ provider });
  const owner = { userId: 'probe', tenantId: null };
  if (syncOnly) return syncSides(api, name, principal, weather);
  const say = () => [api.createMessage({ type: 'text', role: 'user', content: greeting, payload: {} })];

  async function measure(begin: () => AsyncIterable<{ readonly type: string }> | Promise<AsyncIterable<{ readonly type: string }>>): Promise<Sample> {
    if (cold) scratch.fill(Math.random() * 255);
    requestCreated = undefined;
    const wall = performance.now();
    const started = cpuUs();
    const begun = begin();
    const sync = cpuUs() - started;
    const syncWall = (performance.now() - wall) * 1000;
    for await (const event of await begun) {
      if (event.type === 'text_delta') {
        const delta = cpuUs() - started;
        const wallMs = performance.now() - wall;
        return { sync, request: (requestCreated ?? Number.NaN) - started, delta, wallMs, syncWall };
      }
    }
    throw new Error('no text delta');
  }
  const events = async function* (stream: AsyncIterable<{ readonly event: { readonly type: string } }>) {
    for await (const { event } of stream) yield event;
  };
  return [
    {
      label: `${name}: durable`,
      samples: [],
      run: () => {
        const input = say();
        return measure(async () => events(await sessions.stream.start({ owner, session: { agentSlug: 'weather' }, input, principal, tools: [weather], instructions })));
      },
    },
    {
      label: `${name}: loop`,
      samples: [],
      run: () => {
        const input = say();
        return measure(() => loop.stream({ messages: input, principal, tools: [weather], instructions }));
      },
    },
  ];
}

/** `start`'s synchronous part and the CPU to the model call, with nothing but the session layer and the loop; the loop's own `stream()` beside it. */
function syncSides(api: Api, name: string, principal: ReturnType<Api['createPrincipal']>, weather: ReturnType<Api['defineTool']>): Side[] {
  let modelCalled: number | undefined;
  const provider = {
    name: 'never',
    complete: () => new Promise<never>(() => undefined),
    async *stream(_request: unknown, options: { readonly signal?: AbortSignal } = {}) {
      modelCalled ??= cpuUs();
      await new Promise((settle) => options.signal?.addEventListener('abort', settle, { once: true }));
      yield* [];
    },
  };
  const sessions = api.createSessionRunner({ store: api.createInMemoryTranscriptStore(), createRunner: (persister) => api.createToolLoopRunner({ provider, persister }) });
  const loop = api.createToolLoopRunner({ provider });
  const owner = { userId: 'probe', tenantId: null };
  async function measure(begin: (input: ReturnType<Api['createMessage']>[], stopper: AbortController) => Promise<() => Promise<void>>): Promise<Sample> {
    const input = [api.createMessage({ type: 'text', role: 'user', content: greeting, payload: {} })];
    // Made before the mark (its signal too): the loop's side is stopped through it.
    const stopper = new AbortController();
    void stopper.signal;
    if (cold) scratch.fill(Math.random() * 255);
    modelCalled = undefined;
    const wall = performance.now();
    const started = cpuUs();
    const begun = begin(input, stopper);
    const sync = cpuUs() - started;
    const syncWall = (performance.now() - wall) * 1000;
    const end = await begun;
    while (modelCalled === undefined) await Promise.resolve();
    const request = modelCalled - started;
    await end();
    return { sync, request, delta: Number.NaN, wallMs: Number.NaN, syncWall };
  }
  return [
    {
      label: `${name}: start`,
      samples: [],
      run: () =>
        measure(async (input) => {
          const stream = await sessions.stream.start({ owner, session: { agentSlug: 'weather' }, input, principal, tools: [weather], instructions });
          return () => stream.cancel();
        }),
    },
    {
      label: `${name}: loop`,
      samples: [],
      run: () =>
        measure(async (input, stopper) => {
          const events = loop.stream({ messages: input, principal, tools: [weather], instructions }, { signal: stopper.signal })[Symbol.asyncIterator]();
          // Past `turn_start`, as the session stream's run goes on before its consumer reads.
          const ended = events.next().then(() => events.next());
          return async () => {
            stopper.abort();
            await ended;
            await events.return?.();
          };
        }),
    },
  ];
}

/** The median, and the mean of the middle 80 % (finer than the median's whole µs). */
const median = (values: readonly number[]) => [...values].sort((left, right) => left - right)[values.length >> 1] ?? Number.NaN;
function trimmedMean(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = sorted.slice(Math.floor(sorted.length * 0.1), Math.ceil(sorted.length * 0.9));
  return middle.reduce((sum, value) => sum + value, 0) / middle.length;
}
try {
  const sides = (await Promise.all(builds.map((folder, index) => sidesOf(folder, index === 0 ? 'this build' : `build ${index}`)))).flat();
  for (const side of sides) for (let warm = 0; warm < 30; warm += 1) await side.run();
  const loadBefore = loadAverage();
  for (let round = 0; round < rounds; round += 1) {
    // Each round in another order, so no side always follows the same one.
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) for (let run = 0; run < block; run += 1) side.samples.push(await side.run());
  }
  process.stdout.write(`start probe, ${rounds} rounds of ${block}${cold ? ', caches made cold' : ''}, load ${loadBefore} -> ${loadAverage()}; medians (and trimmed means), µs of Node CPU from the call; wall median in ms\n`);
  for (const side of sides) {
    const pick = (key: keyof Sample) => {
      const values = side.samples.map((sample) => sample[key]);
      return key === 'wallMs' ? median(values).toFixed(3) : `${median(values).toFixed(0).padStart(5)} (${trimmedMean(values).toFixed(1)})`;
    };
    process.stdout.write(`${side.label.padEnd(22)} sync ${pick('sync')} wall ${pick('syncWall')}  request ${pick('request')}  delta ${pick('delta')}  wall ${pick('wallMs')}\n`);
  }
} finally {
  for (const db of connections) await db.destroy();
  await database.destroy();
  child.disconnect();
}
