// Where the two-turn conversation's time goes, each side's (not part of `pnpm bench`; see
// docs/decisions/2026-11-30-durable-streaming.md, "2026-12-02: named statements"). Run after a build
// with `node --import tsx bench/conversation-probe.ts`: the two sides of `durable-stream.bench.ts`'s
// first line in alternating blocks (PROBE_BLOCKS, 12, of PROBE_BLOCK, 40, conversations), and per
// conversation: the median wall time, the Node CPU (`process.cpuUsage`), the CPU of the database's
// backends (all of the test database's connections, from /proc), of the WAL writer and of the model
// server's process, and the statements sent. PROBE_NAMED=0 sends every statement unnamed;
// PROBE_APPEND=owner, for measurement only, puts back the append's session lookup of migration 0004
// (the owner compared with `=`, which the planner may serve from the owner's index).
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { createTestDatabase } from '@data-machine/testkit';
import { sql, type Kysely, type KyselyPlugin } from 'kysely';
import { loadAverage, processCpuMs } from './process-cpu';
import { connectAsHost, setUpTwoTurnConversation } from './two-turn-conversation';

const child = fork(fileURLToPath(new URL('./weather-model-server.ts', import.meta.url)), { execArgv: process.execArgv });
const server = await new Promise<{ baseURL: string }>((resolve) => child.once('message', (message) => resolve(message as { baseURL: string })));
const database = await createTestDatabase('postgres');
let statements = 0;
const counting: KyselyPlugin = {
  // Counted at the result: a query sent already compiled (the store's calls) is not transformed.
  transformQuery: (args) => args.node,
  transformResult: (args) => {
    statements += 1;
    return Promise.resolve(args.result);
  },
};
// PROBE_NAMED=0: the testkit's kysely, every statement unnamed; else as a host wires it (named statements).
const named = process.env.PROBE_NAMED !== '0';
const db = named ? connectAsHost(database.url ?? '') : (database.db as Kysely<AgentsApiDatabase>);
const { direct, durable } = await setUpTwoTurnConversation(db.withPlugin(counting), server.baseURL);
const ownerLookup = process.env.PROBE_APPEND === 'owner';
if (ownerLookup) {
  const definition = (await sql<{ definition: string }>`select pg_get_functiondef('agents_append_messages'::regproc) as definition`.execute(db)).rows[0]?.definition ?? '';
  const lookup = /session\.user_key IS NOT DISTINCT FROM p_user_key AND session\.tenant_key IS NOT DISTINCT FROM p_tenant_key/i;
  if (!lookup.test(definition)) throw new Error('the append no longer compares the owner as migration 0006 does');
  await sql.raw(definition.replace(lookup, 'session.user_key = p_user_key and session.tenant_key = p_tenant_key')).execute(db);
}

/** A process's CPU time in ms, 0 once it is gone (a backend may close between blocks). */
function cpuMsOf(pid: number): number {
  try {
    return processCpuMs(pid);
  } catch {
    return 0;
  }
}
const nodeCpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};
const median = (values: readonly number[]) => [...values].sort((left, right) => left - right)[values.length >> 1] ?? Number.NaN;

interface Totals {
  readonly wall: number[];
  node: number;
  backends: number;
  walWriter: number;
  modelServer: number;
  statements: number;
  conversations: number;
}
const sides = { direct, durable };
const totals = new Map<string, Totals>(Object.keys(sides).map((name) => [name, { wall: [], node: 0, backends: 0, walWriter: 0, modelServer: 0, statements: 0, conversations: 0 }]));
const blocks = Number(process.env.PROBE_BLOCKS ?? 12);
const perBlock = Number(process.env.PROBE_BLOCK ?? 40);
for (let index = 0; index < 30; index += 1) {
  await direct();
  await durable();
}
const walWriter = Number((await sql<{ pid: number }>`select pid from pg_stat_activity where backend_type = 'walwriter'`.execute(db)).rows[0]?.pid);
for (let block = 0; block < blocks; block += 1) {
  const names = block % 2 === 0 ? Object.keys(sides) : Object.keys(sides).reverse();
  for (const name of names) {
    const run = sides[name as keyof typeof sides];
    const total = totals.get(name);
    if (!total) continue;
    const backends = (await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database()`.execute(db)).rows.map((row) => row.pid);
    const cpuOfBackends = () => backends.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
    const before = { node: nodeCpuMs(), backends: cpuOfBackends(), walWriter: cpuMsOf(walWriter), modelServer: cpuMsOf(child.pid ?? 0), statements };
    for (let index = 0; index < perBlock; index += 1) {
      const started = performance.now();
      await run();
      total.wall.push(performance.now() - started);
    }
    total.node += nodeCpuMs() - before.node;
    total.backends += cpuOfBackends() - before.backends;
    total.walWriter += cpuMsOf(walWriter) - before.walWriter;
    total.modelServer += cpuMsOf(child.pid ?? 0) - before.modelServer;
    total.statements += statements - before.statements;
    total.conversations += perBlock;
  }
}
process.stdout.write(`${named ? 'named statements' : 'unnamed statements'}, append ${ownerLookup ? 'as in 0004' : 'by primary key'}, load average ${loadAverage()}\n`);
for (const [name, total] of totals) {
  const per = (value: number) => (value / total.conversations).toFixed(3);
  process.stdout.write(
    `${name}: wall ${median(total.wall).toFixed(3)} ms (median), per conversation: Node CPU ${per(total.node)} ms, backends ${per(total.backends)} ms, WAL writer ${per(total.walWriter)} ms, model server ${per(total.modelServer)} ms, ${per(total.statements)} statements\n`,
  );
}
if (named) await db.destroy();
await database.destroy();
child.disconnect();
