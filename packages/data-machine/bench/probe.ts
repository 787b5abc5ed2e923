// A probe of one job on Postgres, ours against raw pg-boss's (not part of `pnpm bench`; see
// docs/decisions/2026-12-01-engine-speed.md, "fifth pass"). Run with
// `node --import tsx --conditions=@data-machine/source bench/probe.ts`:
// - by default, PROBE_ROUNDS (100) alternating jobs: the client-side time of each round trip by kind,
//   and a timeline of the last four;
// - PROBE_EXPLAIN=1: each statement replayed on a copy under EXPLAIN (ANALYZE, SUMMARY)
//   (PROBE_PLANS=1 prints the plans, PROBE_SHOW=1 the SQL);
// - PROBE_CPU=1: CPU per job of this process and of the database's backends (from /proc), over
//   PROBE_CPU_JOBS (200) jobs of each side in turn (PROBE_ONLY=ours|raw for one side).
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { migrateAgentsApi } from '@data-machine/agents-api/postgres';
import { createTestDatabase } from '@data-machine/testkit';
import type { Kysely } from 'kysely';
import { createDataMachineContext } from '../src/context';
import type { DataMachineDatabase } from '../src/database/data-machine-database';
import { migrateDataMachine } from '../src/database/data-machine-migrations';
import { createHandlerSteps } from '../src/engine/handler-steps';
import { startFlowRun } from '../src/engine/flow-run';
import { createJobEngine, installJobEngine } from '../src/engine/job-engine';
import { createJobWorker } from '../src/engine/job-worker';
import { createFlow } from '../src/flows/flow-repository';
import { createPipeline } from '../src/pipelines/pipeline-repository';
import type { Step } from '../src/steps/step';
import { flowWorld } from '../test/support/pipeline-fixture';

interface PgPool {
  on(event: string, listener: (...args: never[]) => void): void;
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  connect(): Promise<{ query(text: string, values?: unknown[]): Promise<unknown>; release(): void }>;
  end(): Promise<void>;
}
const pg = createRequire(import.meta.resolve('@data-machine/testkit'))('pg') as { Pool: new (config: { connectionString: string; max: number }) => PgPool };

const database = await createTestDatabase('postgres');
await migrateAgentsApi(database.db);
await migrateDataMachine(database.db);
await installJobEngine(database.db);
const context = createDataMachineContext({ db: database.db as Kysely<DataMachineDatabase> });

type Side = 'ours' | 'raw' | 'none';
let explaining = false;
const lastText = new Map<string, { text: string; values: unknown[] }>();
let events: [number, string][] | null = null;
const mark = (label: string) => void events?.push([performance.now(), label]);
let side: Side = 'none';
const samples = new Map<string, number[]>();
const classify = (text: string): string => {
  if (text.startsWith("select set_config('role'")) return text.includes('insert into "dm_jobs"') || text.split(';\n').length === 4 ? 'enqueue batch' : text.includes('update "dm_jobs"') || text.split(';\n').length === 2 ? 'end alone' : 'other alone';
  if (text.startsWith('prepare ')) return 'prepare';
  if (text.includes("select set_config('role'")) return 'fetch+start batch';
  if (/INSERT INTO/i.test(text) && text.includes('pgboss')) return 'boss insert';
  if (/^\s*WITH next/i.test(text)) return 'boss fetch';
  if (/completed/.test(text)) return 'boss complete';
  return `other: ${text.replace(/\s+/g, ' ').slice(0, 60)}`;
};
const pool = new pg.Pool({ connectionString: database.url as string, max: 8 });
pool.on('error', () => undefined);
pool.on('connect', (client: { query: (...args: unknown[]) => unknown }) => {
  const query = client.query.bind(client);
  client.query = (...args: unknown[]) => {
    const first = args[0];
    const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '');
    const key = `${side} ${classify(text)}`;
    if (!explaining) lastText.set(classify(text), { text, values: Array.isArray(args[1]) ? (args[1] as unknown[]) : [] });
    const started = performance.now();
    mark(`> ${key}`);
    const note = () => {
      mark(`< ${key}`);
      const list = samples.get(key) ?? [];
      list.push(performance.now() - started);
      samples.set(key, list);
    };
    const last = args.at(-1);
    if (typeof last === 'function') {
      args[args.length - 1] = (...results: unknown[]) => {
        note();
        return (last as (...r: unknown[]) => unknown)(...results);
      };
    }
    const result: unknown = query(...args);
    if (result instanceof Promise) void result.then(note, () => undefined);
    return result;
  };
});

const engine = createJobEngine({ database: { pool }, pollingIntervalSeconds: 0.5, supervise: false });
const noop: Step = { type: 'upsert', retrySafe: true, execute: async (input) => ({ kind: 'output', output: input.value }) };
const world = await flowWorld(context, 'probe');
await createPipeline(context, world.owner, world.handlers, 'bot', { slug: 'main', name: 'Main', steps: [{ key: 'noop', type: 'upsert', handler: 'records', config: { collection: 'bench' } }] });
const flow = await createFlow(context, world.owner, world.handlers, 'bot', { pipeline: 'main', slug: 'main', name: 'Main', maxItems: 1 });
const waiters = new Map<string, () => void>();
const worker = createJobWorker({ context, engine, handlers: world.handlers, steps: { ...createHandlerSteps(world.handlers), upsert: noop }, batchSize: 8, onExecuted: (message) => { mark("onExecuted"); waiters.get(message.jobId)?.(); } });
await engine.start();
await engine.boss.createQueue('bench_raw');
const rawWaiters = new Map<string, () => void>();
const rawLoop: { id?: string } = {};
const rawWorker = await engine.boss.work<object>('bench_raw', { batchSize: 8, pollingIntervalSeconds: 0.5 }, async (jobs) => {
  mark('handler');
  for (const job of jobs) rawWaiters.get(job.id)?.();
  if (rawLoop.id !== undefined) engine.boss.notifyWorker(rawLoop.id);
});
rawLoop.id = rawWorker;
await worker.start();

const totals: Record<'ours' | 'raw', number[]> = { ours: [], raw: [] };
/** One job of a side, timed from its start to its handler; the worker only fetches after the kick, so the waiter is set in time. */
const timedJob = (which: 'ours' | 'raw', waitersOf: Map<string, () => void>, enqueue: () => Promise<string>, kick: () => void) => async () => {
  side = which;
  const started = performance.now();
  let resolve: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  mark(which === 'ours' ? 'startFlowRun' : 'send');
  waitersOf.set(await enqueue(), resolve);
  mark('notify');
  kick();
  await done;
  mark('done');
  totals[which].push(performance.now() - started);
};
const ours = timedJob('ours', waiters, async () => (await startFlowRun(context, engine, { tenantId: world.tenant.id, flowId: flow.id, source: 'api' })).job.id, () => worker.notify());
const raw = timedJob('raw', rawWaiters, async () => (await engine.boss.send('bench_raw', {})) as string, () => engine.boss.notifyWorker(rawWorker));
const rounds = Number(process.env.PROBE_ROUNDS ?? 100);
if (process.env.PROBE_CPU === '1') await cpuPerJob();
for (let index = 0; index < 20; index += 1) {
  await ours();
  await raw();
}
samples.clear();
totals.ours.length = 0;
totals.raw.length = 0;
for (let index = 0; index < rounds; index += 1) {
  events = index >= rounds - 4 ? [] : null;
  if (index % 2 === 0) {
    await ours();
    await new Promise((r) => setTimeout(r, 5));
    await raw();
  } else {
    await raw();
    await new Promise((r) => setTimeout(r, 5));
    await ours();
  }
  await new Promise((r) => setTimeout(r, 5));
  if (events !== null) {
    const origin = events[0]?.[0] ?? 0;
    for (const [time, label] of events) process.stdout.write(`  ${(time - origin).toFixed(2).padStart(7)} ${label}\n`);
    process.stdout.write('\n');
  }
}
/** CPU per job (ms): our process's, and the database backends' of this database (from /proc), ours and raw's in turn. */
async function cpuPerJob(): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const ticks = 100;
  const pids = async () => ((await pool.query(`select pid from pg_stat_activity where datname = current_database() or backend_type = 'walwriter'`)).rows as { pid: number }[]).map((row) => row.pid);
  const cpuOf = (pid: number): number => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks;
    } catch {
      return 0;
    }
  };
  for (let index = 0; index < 30; index += 1) await Promise.all([ours(), raw()]);
  const jobs = Number(process.env.PROBE_CPU_JOBS ?? 200);
  for (let repeat = 0; repeat < 3; repeat += 1) {
    for (const [label, run] of ([['ours', ours], ['raw', raw]] as const).filter(([label]) => (process.env.PROBE_ONLY ?? label) === label)) {
      const before = new Map((await pids()).map((pid) => [pid, cpuOf(pid)]));
      const node = process.cpuUsage();
      const wall = performance.now();
      for (let index = 0; index < jobs; index += 1) await run();
      const wallMs = performance.now() - wall;
      const nodeUsage = process.cpuUsage(node);
      await new Promise((r) => setTimeout(r, 300));
      const after = await pids();
      let server = 0;
      for (const pid of after) server += cpuOf(pid) - (before.get(pid) ?? 0);
      process.stdout.write(`cpu ${label.padEnd(4)}: wall ${(wallMs / jobs).toFixed(2)} ms/job, node ${((nodeUsage.user + nodeUsage.system) / 1000 / jobs).toFixed(2)} ms/job, postgres ${(server / jobs).toFixed(2)} ms/job (${after.length} processes)\n`);
    }
  }
}

async function explainAll(): Promise<void> {
  const { splitStatements } = await import('../src/engine/boss-database');
  const { inlineParameters } = await import('../src/scope/scoped-statements');
  const { CompiledQuery } = await import('kysely');
  explaining = true;
  const client = await pool.connect();
  const timedQuery = async (text: string): Promise<number> => {
    const started = performance.now();
    await client.query(text);
    return performance.now() - started;
  };
  const explain = async (label: string, text: string): Promise<void> => {
    if (process.env.PROBE_SHOW === "1") process.stdout.write(`SQL ${label}: ${text.slice(0, 300)}\n`);
    const result = (await client.query(`explain (analyze, summary, timing off, costs off) ${text}`)) as { rows: { 'QUERY PLAN': string }[] };
    const lines = result.rows.map((row) => row['QUERY PLAN']);
    const planning = lines.find((line) => line.startsWith('Planning Time'));
    const execution = lines.find((line) => line.startsWith('Execution Time'));
    process.stdout.write(`  ${label.padEnd(34)} ${planning}; ${execution}\n`);
    if (process.env.PROBE_PLANS === '1') process.stdout.write(lines.map((line) => `      ${line}`).join('\n') + '\n');
  };
  const pick = (name: string) => {
    const found = lastText.get(name);
    if (found === undefined) throw new Error(`no ${name}`);
    return found;
  };
  for (let repeat = 0; repeat < 3; repeat += 1) {
    process.stdout.write(`explain, repeat ${repeat}\n`);
    let selectOne = 0;
    for (let index = 0; index < 20; index += 1) selectOne += await timedQuery('select 1');
    process.stdout.write(`  select 1 round trip: ${(selectOne / 20).toFixed(3)} ms\n`);
    const enqueue = splitStatements(pick('enqueue batch').text);
    const oldJob = /'(job_[0-9a-z]+)'/.exec(enqueue[1] ?? '')?.[1] as string;
    const oldBoss = /"id":"([0-9a-f-]{36})"/.exec(enqueue[3] ?? '')?.[1] as string;
    const newJob = `job_probe${Date.now().toString(36)}${repeat}`;
    const newBoss = crypto.randomUUID();
    const swap = (text: string) => text.split(oldJob).join(newJob).split(oldBoss).join(newBoss);
    await client.query('begin');
    await client.query(enqueue[0] as string);
    await explain('enqueue: job insert', swap(enqueue[1] as string));
    const guardMs = await timedQuery(swap(enqueue[2] as string));
    process.stdout.write(`  enqueue: DO guard round trip ${guardMs.toFixed(3)} ms\n`);
    await explain('enqueue: pg-boss insert', swap(enqueue[3] as string));
    let started = performance.now();
    await client.query('commit');
    process.stdout.write(`  enqueue: commit (sync) ${(performance.now() - started).toFixed(3)} ms\n`);
    const fetch = splitStatements(pick('fetch+start batch').text);
    await client.query('begin');
    await explain('fetch: folded pg-boss fetch', fetch[0] as string);
    await client.query(fetch[1] as string);
    await explain('fetch: start update', fetch[2] as string);
    const end = splitStatements(pick('end alone').text);
    const endJob = /'(job_[0-9a-z]+)'/.exec(end[1] ?? '')?.[1] as string;
    const endBoss = /'([0-9a-f-]{36})'/.exec(end[1] ?? '')?.[1] as string;
    await client.query(end[0]?.split(endJob).join(newJob) as string);
    await explain('end: unheld transition', (end[1] as string).split(endJob).join(newJob).split(endBoss).join(newBoss));
    started = performance.now();
    await client.query('commit');
    process.stdout.write(`  fetch+end: commit (sync here) ${(performance.now() - started).toFixed(3)} ms\n`);
    const complete = pick('boss complete');
    await client.query('begin');
    await explain('pg-boss complete', inlineParameters(CompiledQuery.raw(complete.text, [complete.values[0], [newBoss], complete.values[2]].map((value) => (Array.isArray(value) ? `{${value.join(',')}}` : value)))));
    await client.query('rollback');
    const send = pick('boss insert');
    const sendValues = send.values.map((value, index) => (index === 0 ? crypto.randomUUID() : value));
    await client.query('begin');
    await explain('raw: pg-boss send insert', inlineParameters(CompiledQuery.raw(send.text, sendValues.map((value) => (typeof value === 'object' && value !== null && !(value instanceof Date) ? JSON.stringify(value) : value)))));
    await client.query('commit');
    const rawFetch = pick('boss fetch');
    await client.query('begin');
    await explain('raw: pg-boss fetch', inlineParameters(CompiledQuery.raw(rawFetch.text, rawFetch.values)));
    await client.query('rollback');
  }
  client.release();
}
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};
for (const [key, values] of [...samples.entries()].sort()) process.stdout.write(`${key.padEnd(40)} n=${String(values.length).padStart(4)} median ${median(values).toFixed(3)} ms\n`);
process.stdout.write(`total ours median ${median(totals.ours).toFixed(3)} ms, raw ${median(totals.raw).toFixed(3)} ms, ratio ${(median(totals.ours) / median(totals.raw)).toFixed(3)}\n`);
await worker.stop();
await engine.boss.offWork({ id: rawWorker });
if (process.env.PROBE_EXPLAIN === '1') await explainAll();
await engine.stop();
await pool.end();
await database.destroy();
process.exit(0);
