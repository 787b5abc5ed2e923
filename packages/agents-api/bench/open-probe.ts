// A probe of a new durable session's open on Postgres (not part of `pnpm bench`; see
// docs/decisions/2026-11-30-durable-streaming.md, "2026-12-01, stop 24"). Run after a build with
// `node --import tsx bench/open-probe.ts`:
// - by default, PROBE_ROUNDS (300) rounds, each side in turn: the time to the first text delta of a
//   bare streaming call and of `sessions.stream.start` with the open as it is, and, for measurement
//   only, with something else in the open's place while the model answers (the real open sent 30 ms
//   later): nothing, a `select 1`, the open's function alone (no stream set-up after it) as an
//   unnamed and as a named (prepared) statement. Also the Node CPU from the call to the first delta;
// - PROBE=cpu: the CPU the database's backend spends per call (from /proc), on one connection, the
//   calls alternated in blocks: the open unnamed, named, named with a synchronous commit, the
//   function without each of its parts, a one-row INSERT, `select 1`; then EXPLAIN (ANALYZE, SUMMARY).
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createMessage, createPrincipal, createSessionRunner, createToolLoopRunner, defineTool, type TranscriptStore } from '@data-machine/agents-api';
import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { createPostgresTranscriptStore, migrateAgentsApi } from '@data-machine/agents-api/postgres';
import { createTestDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import OpenAI from 'openai';
import { z } from 'zod';
import { loadAverage, processCpuMs } from './process-cpu';

interface PgClient {
  connect(): Promise<void>;
  query(text: string | { name: string; text: string; values: unknown[] }, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
}
const pg = createRequire(import.meta.resolve('@data-machine/testkit'))('pg') as { Client: new (config: { connectionString: string }) => PgClient };

const database = await createTestDatabase('postgres');
const { db } = database;
await migrateAgentsApi(db);
const client = new pg.Client({ connectionString: database.url ?? '' });
await client.connect();
const backendPid = Number((await client.query('select pg_backend_pid() as pid')).rows[0]?.pid);
const greeting = 'Say hello.';
const input = () => [createMessage({ type: 'text', role: 'user', content: greeting, payload: {} })];
const callOf = (fn: string) => `select * from ${fn}($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13, $14)`;
let calls = 0;
/** The arguments of one new session's open, as the store sends them (`openCall`). */
function openArguments(asyncCommit = true): unknown[] {
  const id = `probe_${process.pid}_${(calls += 1)}`;
  const at = new Date();
  return [id, 'weather', 'u:probe', '', null, '{}', JSON.stringify(input()), at, 'token', new Date(at.getTime() + 60_000), null, `run_${id}`, 0, asyncCommit];
}
const median = (values: readonly number[]) => [...values].sort((left, right) => left - right)[values.length >> 1] ?? Number.NaN;
const cpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

try {
  if (process.env.PROBE === 'cpu') await probeCpu();
  else await probeFirstDelta();
} finally {
  await client.end();
  await database.destroy();
}

async function probeFirstDelta(): Promise<void> {
  const child = fork(fileURLToPath(new URL('./weather-model-server.ts', import.meta.url)), { execArgv: process.execArgv });
  try {
    const server = await new Promise<{ baseURL: string }>((resolve) => child.once('message', (message) => resolve(message as { baseURL: string })));
    const instructions = 'You are a weather assistant.';
    const weather = defineTool({ name: 'weather', description: 'The weather in a city', input: z.object({ city: z.string() }), execute: ({ city }) => `Sunny in ${city}` });
    const principal = createPrincipal({ userId: 'probe', agentSlug: 'weather', authSource: 'user', requestContext: 'cli', tokenId: null, ceiling: { allowed: 'unrestricted', denied: [] }, callerChain: [] });
    const owner = { userId: 'probe', tenantId: null };
    const openai = new OpenAI({ apiKey: 'probe', baseURL: server.baseURL, maxRetries: 0 });
    const provider = createOpenAIProvider({ apiKey: 'probe', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
    const store = createPostgresTranscriptStore({ db });
    const later = (work: () => Promise<unknown>): TranscriptStore => {
      const replaced = Object.create(store) as TranscriptStore;
      const openSession: TranscriptStore['openSession'] = async (...args) => {
        await work();
        await new Promise((resolve) => setTimeout(resolve, 30));
        return store.openSession(...args);
      };
      Object.defineProperty(replaced, 'openSession', { value: openSession });
      return replaced;
    };
    const stores: Record<string, TranscriptStore> = {
      'the open': store,
      'nothing (open 30 ms later)': later(async () => undefined),
      'select 1': later(() => sql`select 1`.execute(db)),
      'the function, unnamed': later(() => client.query(callOf('agents_open_session'), openArguments())),
      'the function, named': later(() => client.query({ name: 'probe_open', text: callOf('agents_open_session'), values: openArguments() })),
    };
    let windowCpu = 0;
    const sides: Record<string, () => Promise<number>> = {
      'bare call': async () => {
        const started = performance.now();
        const cpuAtStart = cpuMs();
        const stream = await openai.chat.completions.create({ model: 'test-model', messages: [{ role: 'system', content: instructions }, { role: 'user', content: greeting }], stream: true });
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta.content) {
            windowCpu = cpuMs() - cpuAtStart;
            return performance.now() - started;
          }
        }
        throw new Error('the bare stream ended without a text delta');
      },
    };
    for (const [name, variant] of Object.entries(stores)) {
      const sessions = createSessionRunner({ store: variant, createRunner: (persister) => createToolLoopRunner({ provider, persister }) });
      sides[name] = async () => {
        const started = performance.now();
        const cpuAtStart = cpuMs();
        const stream = await sessions.stream.start({ owner, session: { agentSlug: 'weather' }, input: input(), principal, tools: [weather], instructions });
        for await (const { event } of stream) {
          if (event.type === 'text_delta') {
            windowCpu = cpuMs() - cpuAtStart;
            return performance.now() - started;
          }
        }
        throw new Error('the durable stream ended without a text delta');
      };
    }
    const rounds = Number(process.env.PROBE_ROUNDS ?? 300);
    const times = new Map<string, number[]>(Object.keys(sides).map((name) => [name, []]));
    const cpu = new Map<string, number>();
    for (let round = -30; round < rounds; round += 1) {
      const names = round % 2 === 0 ? Object.keys(sides) : Object.keys(sides).reverse();
      for (const name of names) {
        const elapsed = await (sides[name] ?? (() => Promise.resolve(0)))();
        if (round < 0) continue;
        times.get(name)?.push(elapsed);
        cpu.set(name, (cpu.get(name) ?? 0) + windowCpu);
      }
    }
    const bare = median(times.get('bare call') ?? []);
    process.stdout.write(`load average ${loadAverage()}\n`);
    for (const [name, values] of times) {
      const ms = median(values);
      process.stdout.write(`${name}: first delta ${ms.toFixed(3)} ms (${(ms / bare).toFixed(3)} of the bare call), Node CPU to it ${((cpu.get(name) ?? 0) / rounds).toFixed(3)} ms\n`);
    }
  } finally {
    child.disconnect();
  }
}

async function probeCpu(): Promise<void> {
  const backendCpuMs = () => processCpuMs(backendPid);
  // The function without one of its parts, for measurement only (same arguments).
  const definition = String((await client.query(`select pg_get_functiondef('agents_open_session'::regproc) as d`)).rows[0]?.d);
  const without: Record<string, RegExp> = {
    'set_config': /if p_async_commit then\s*perform set_config\('synchronous_commit', 'off', true\);\s*end if;/,
    'the run': /if found_run\.id is null then[\s\S]*?begun := true;\s*end if;/,
    'the messages': /insert into agents_session_messages[\s\S]*?ordinality as entry\(body, ord\);/,
  };
  const calls: Record<string, () => Promise<unknown>> = {
    'open, unnamed': () => client.query(callOf('agents_open_session'), openArguments()),
    'open, named': () => client.query({ name: 'probe_open', text: callOf('agents_open_session'), values: openArguments() }),
    'open, named, synchronous commit': () => client.query({ name: 'probe_open', text: callOf('agents_open_session'), values: openArguments(false) }),
  };
  for (const [part, pattern] of Object.entries(without)) {
    const name = `probe_open_without_${Object.keys(calls).length}`;
    const edited = definition.replace('public.agents_open_session', name).replace(pattern, part === 'the messages' ? 'null;' : '');
    if (!edited.includes(name) || edited === definition.replace('public.agents_open_session', name)) throw new Error(`could not take out ${part}`);
    await client.query(edited);
    calls[`open, named, without ${part}`] = () => client.query({ name, text: callOf(name), values: openArguments() });
  }
  await client.query('create table probe_rows (id text primary key, body jsonb)');
  // Its commit made asynchronous as the open's is: `set_config(..., true)` in the statement's own transaction.
  const insertText = `with setting as (select set_config('synchronous_commit', 'off', true)) insert into probe_rows select $1, $2::jsonb from setting`;
  let rows = 0;
  calls['one-row INSERT, named, asynchronous commit'] = () => client.query({ name: 'probe_insert', text: insertText, values: [`row_${(rows += 1)}`, JSON.stringify(input())] });
  calls['select 1, named'] = () => client.query({ name: 'probe_select', text: 'select 1', values: [] });
  const spent = new Map<string, number>();
  const perBlock = 200;
  const blocks = Number(process.env.PROBE_BLOCKS ?? 15);
  for (const call of Object.values(calls)) for (let index = 0; index < 30; index += 1) await call();
  for (let block = 0; block < blocks; block += 1) {
    for (const [name, call] of Object.entries(calls)) {
      // Without its set_config the function commits as the session does: asynchronously here, as with it.
      const sessionAsync = name.endsWith('set_config');
      if (sessionAsync) await client.query('set synchronous_commit = off');
      const before = backendCpuMs();
      for (let index = 0; index < perBlock; index += 1) await call();
      spent.set(name, (spent.get(name) ?? 0) + backendCpuMs() - before);
      if (sessionAsync) await client.query('reset synchronous_commit');
    }
  }
  process.stdout.write(`load average ${loadAverage()}\n`);
  for (const [name, ms] of spent) process.stdout.write(`${name}: ${(ms / (blocks * perBlock)).toFixed(3)} ms of backend CPU per call\n`);
  const planning: number[] = [];
  const execution: number[] = [];
  let plan = '';
  for (let index = 0; index < 200; index += 1) {
    const rows = (await client.query(`explain (analyze, summary, buffers, wal) ${callOf('agents_open_session')}`, openArguments())).rows;
    plan = rows.map((row) => String(row['QUERY PLAN'])).join('\n');
    planning.push(Number(/Planning Time: ([\d.]+)/.exec(plan)?.[1]));
    execution.push(Number(/Execution Time: ([\d.]+)/.exec(plan)?.[1]));
  }
  process.stdout.write(`${plan}\nEXPLAIN (ANALYZE), median of 200: planning ${median(planning).toFixed(3)} ms, execution ${median(execution).toFixed(3)} ms\n`);
}
