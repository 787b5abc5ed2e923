// Which index the transcript store's lookups of one session (by id and owner) use on a table not yet
// analyzed, and what each costs the database (not part of `pnpm bench`; see
// docs/decisions/2026-11-30-durable-streaming.md, "2026-12-02, stop 26: primary-key lookups"). Run after
// a build with `node --import tsx bench/primary-key-probe.ts`:
// - a fresh database holding PROBE_SESSIONS (3000) sessions of one owner, 4 messages each, and one of
//   PROBE_LONG (2000) messages, autovacuum off on the tables so that nothing analyzes them while the probe
//   runs (as on a new host, or a table that grows faster than autovacuum's analyze); PROBE_ANALYZE=1
//   analyzes them first, for comparison;
// - the store's statements for one session of theirs, captured as sent (kysely's log), each in two forms:
//   the owner compared with `=` (as before migration 0007) and with IS NOT DISTINCT FROM (as now); the
//   keyed reopen of `agents_open_session` likewise, as two copies of the function;
// - per statement and form: the index the plan reads, EXPLAIN (ANALYZE, BUFFERS)'s shared buffers and
//   time, then the CPU the backend spends per call (from /proc), the forms alternated in PROBE_BLOCKS (8)
//   blocks of PROBE_BLOCK (100) calls, each call in a transaction rolled back so nothing changes.
import { createRequire } from 'node:module';
import { createMessage } from '@data-machine/agents-api';
import { createPostgresTranscriptStore, migrateAgentsApi, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { createTestDatabase } from '@data-machine/testkit';
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely';
import { loadAverage, processCpuMs } from './process-cpu';

interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
}
type PgPool = ConstructorParameters<typeof PostgresDialect>[0]['pool'] & { end(): Promise<void> };
// `pg` is the testkit's dependency, not this package's: resolved from there.
const pg = createRequire(import.meta.resolve('@data-machine/testkit'))('pg') as {
  Client: new (config: { connectionString: string }) => PgClient;
  Pool: new (config: { connectionString: string; max: number }) => PgPool;
};

const sessionCount = Number(process.env.PROBE_SESSIONS ?? 3000);
const blocks = Number(process.env.PROBE_BLOCKS ?? 8);
const blockSize = Number(process.env.PROBE_BLOCK ?? 100);
const longSession = Number(process.env.PROBE_LONG ?? 2000);
const owner = { userId: 'busy', tenantId: null };

const database = await createTestDatabase('postgres');
const url = database.url ?? '';
const captured: CompiledQuery[] = [];
const pool = new pg.Pool({ connectionString: url, max: 1 });
const db = new Kysely<AgentsApiDatabase>({
  dialect: new PostgresDialect({ pool }),
  log: (event) => {
    if (event.level === 'query') captured.push(event.query);
  },
});
const client = new pg.Client({ connectionString: url });

/** Both forms of a statement's owner comparison: `=`, which an index on the owner serves, and IS NOT DISTINCT FROM. */
const ownerComparison = /("?(?:user_key|tenant_key)"?) (?:=|is not distinct from) (\$\d+|p_user_key|p_tenant_key)/gi;
const print = (line: string) => process.stdout.write(`${line}\n`);
const formsOf = (text: string) => ({
  equals: text.replace(ownerComparison, '$1 = $2'),
  distinct: text.replace(ownerComparison, '$1 is not distinct from $2'),
});

try {
  await migrateAgentsApi(db);
  await client.connect();
  await seed();
  if (process.env.PROBE_ANALYZE === '1') await client.query('analyze agents_sessions, agents_session_messages, agents_runs');
  const { statements, reopen } = await captureLookups();
  // The keyed reopen's function, as two copies differing only in the owner's comparison.
  const definition = String((await client.query(`select pg_get_functiondef('agents_open_session'::regproc) as definition`)).rows[0]?.definition);
  const forms = formsOf(definition);
  await client.query(forms.equals.replace(/public\.agents_open_session\(/, 'public.probe_open_equals('));
  await client.query(forms.distinct.replace(/public\.agents_open_session\(/, 'public.probe_open_distinct('));
  const cases = [
    ...statements.map(({ name, query }) => ({ name, values: query.parameters, ...formsOf(query.sql) })),
    {
      name: 'openSession, keyed reopen (function)',
      values: reopen.parameters,
      equals: reopen.sql.replace('agents_open_session(', 'probe_open_equals('),
      distinct: reopen.sql.replace('agents_open_session(', 'probe_open_distinct('),
    },
  ];
  const pid = Number((await client.query('select pg_backend_pid() as pid')).rows[0]?.pid);
  const stats = (await client.query(`select count(*)::int as analyzed from pg_stat_user_tables where relname like 'agents_session%' and (last_analyze is not null or last_autoanalyze is not null)`)).rows[0];
  print(`${sessionCount} sessions of one owner, ${sessionCount * 4} messages; tables analyzed: ${String(stats?.analyzed)}; load ${loadAverage()}`);
  print('| lookup | form | index read | shared buffers | EXPLAIN ANALYZE time | backend CPU per call |');
  print('| --- | --- | --- | --- | --- | --- |');
  const control = { name: 'control: select 1', values: [], equals: 'select 1', distinct: 'select 1' };
  for (const probe of [...cases, control]) {
    const cpu = await cpuPerCall(pid, probe.values, probe.equals, probe.distinct);
    for (const form of ['equals', 'distinct'] as const) {
      const plan = await explain(probe[form], probe.values);
      print(`| ${probe.name} | ${form === 'equals' ? '=' : 'is not distinct from'} | ${plan.index} | ${plan.buffers} | ${plan.time} | ${cpu[form].toFixed(3)} ms |`);
    }
  }
  print(`load ${loadAverage()}`);
} finally {
  await client.end();
  await db.destroy();
  await database.destroy();
}

/** Sessions `ses_1` to `ses_<n>` of one owner, four messages each; autovacuum off, so nothing analyzes them. */
async function seed(): Promise<void> {
  await client.query('alter table agents_sessions set (autovacuum_enabled = off)');
  await client.query('alter table agents_session_messages set (autovacuum_enabled = off)');
  await client.query('alter table agents_runs set (autovacuum_enabled = off)');
  await client.query(
    `insert into agents_sessions (id, agent_slug, user_key, tenant_key, metadata, last_seq, created_at, updated_at)
     select 'ses_' || n, 'probe', 'busy', '', '{}', 4, now(), now() - n * interval '1 second' from generate_series(1, $1::int) as n`,
    [sessionCount],
  );
  const body = createMessage({ type: 'text', role: 'user', content: 'Hello there.', payload: {} });
  await client.query(
    `insert into agents_session_messages (session_id, seq, message_id, user_key, tenant_key, type, role, body, created_at)
     select 'ses_' || n, seq, 'msg_' || n || '_' || seq, 'busy', '', 'text', 'user', jsonb_set($2::jsonb, '{id}', to_jsonb('msg_' || n || '_' || seq)), now()
       from generate_series(1, $1::int) as n, generate_series(1, 4) as seq`,
    [sessionCount, JSON.stringify(body)],
  );
  // One long session too, `ses_long`, of the same owner.
  await client.query(`insert into agents_sessions (id, agent_slug, user_key, tenant_key, metadata, last_seq, created_at, updated_at) values ('ses_long', 'probe', 'busy', '', '{}', $1, now(), now())`, [longSession]);
  await client.query(
    `insert into agents_session_messages (session_id, seq, message_id, user_key, tenant_key, type, role, body, created_at)
     select 'ses_long', seq, 'msg_long_' || seq, 'busy', '', 'text', 'user', jsonb_set($2::jsonb, '{id}', to_jsonb('msg_long_' || seq)), now()
       from generate_series(1, $1::int) as seq`,
    [longSession, JSON.stringify(body)],
  );
}

/** The store's statements that find one session (or its messages) by id and owner, as sent. */
async function captureLookups(): Promise<{ statements: { name: string; query: CompiledQuery }[]; reopen: CompiledQuery }> {
  const store = createPostgresTranscriptStore({ db });
  const target = `ses_${Math.ceil(sessionCount / 2)}`;
  const statements: { name: string; query: CompiledQuery }[] = [];
  const last = async (name: string, work: () => Promise<unknown>, pick = (queries: CompiledQuery[]) => queries.at(-1)) => {
    captured.length = 0;
    await work();
    const query = pick(captured);
    if (!query) throw new Error(`${name}: no statement`);
    statements.push({ name, query });
  };
  await last('getSession', () => store.getSession(owner, target));
  await last('loadMessages: the messages', () => store.loadMessages(owner, target));
  await last('loadMessages: the last 2', () => store.loadMessages(owner, target, { last: 2 }));
  await last(`loadMessages: the last 2 of ${longSession} messages`, () => store.loadMessages(owner, 'ses_long', { last: 2 }));
  const lease = await store.acquireLock(owner, target, 60_000);
  if (!lease.acquired) throw new Error('lease not taken');
  await store.releaseLock(owner, target, lease.token);
  await last('acquireLock', () => store.acquireLock(owner, target, 60_000), (queries) => queries[0]);
  const token = (await db.selectFrom('agents_sessions').select('lock_token').where('id', '=', target).executeTakeFirstOrThrow()).lock_token ?? '';
  await last('renewLock', () => store.renewLock(owner, target, token, 60_000), (queries) => queries[0]);
  const { run } = await store.beginRun(owner, target, { agentSlug: 'probe', seqAtStart: 4 });
  await last("updateRun's release", () => store.updateRun(owner, target, run.id, { status: 'completed', ended: true }, { releaseLockToken: token }), (queries) => queries[0]);
  const again = await store.acquireLock(owner, target, 60_000);
  if (!again.acquired) throw new Error('lease not taken again');
  await last('releaseLock', () => store.releaseLock(owner, target, again.token), (queries) => queries[0]);
  // Captured in a transaction rolled back: the session stays.
  const rolledBack = new Error('rolled back');
  await last('deleteSession', () =>
    db.transaction().execute(async (trx) => {
      await createPostgresTranscriptStore({ db: trx }).deleteSession(owner, target);
      throw rolledBack;
    }).catch((error: unknown) => {
      if (error !== rolledBack) throw error;
    }),
    (queries) => queries.find((query) => query.sql.startsWith('delete')),
  );
  captured.length = 0;
  await store.openSession(owner, { session: { id: target, agentSlug: 'probe' }, ttlMs: 60_000, run: { idempotencyKey: 'probe-key', seqAtStart: 4 }, durability: 'immediate' });
  const reopen = captured.find((query) => query.sql.includes('agents_open_session('));
  if (!reopen) throw new Error('no open call');
  // The lease the reopen took goes back, so each measured call takes it again (and is rolled back).
  await sql`update agents_sessions set lock_token = null, lock_expires_at = null where id = ${target}`.execute(db);
  return { statements, reopen };
}

/** The index (or scan) the plan reads agents_sessions / agents_session_messages with, and EXPLAIN ANALYZE's buffers and time. */
async function explain(text: string, values: readonly unknown[]): Promise<{ index: string; buffers: string; time: string }> {
  await client.query('begin');
  try {
    const lines = (await client.query(`explain (analyze, buffers, costs off) ${text}`, values)).rows.map((row) => String(row['QUERY PLAN']));
    const scans = lines.map((line) => /(Index Scan|Index Only Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?(?: using (\S+))? on (\S+)/.exec(line)).filter((match) => match !== null);
    const index = scans.length === 0 ? (text.includes('probe_open_') ? '(inside the function)' : 'none') : scans.map((match) => match[2] ?? `${match[1]} on ${match[3]}`).join(', ');
    // The most any node of the plan counts (a node's figure includes its children's), planning's left out.
    const planned = lines.findIndex((line) => line.startsWith('Planning'));
    const hits = lines.slice(0, planned === -1 ? undefined : planned).map((line) => Number(/shared hit=(\d+)/.exec(line)?.[1] ?? 0));
    const buffers = String(Math.max(0, ...hits));
    const time = /Execution Time: (\S+ ms)/.exec(lines.find((line) => line.includes('Execution Time')) ?? '')?.[1] ?? '?';
    return { index, buffers, time };
  } finally {
    await client.query('rollback');
  }
}

/** The backend's CPU per call of each form, alternated in blocks, every call in a transaction rolled back. */
async function cpuPerCall(pid: number, values: readonly unknown[], equals: string, distinct: string): Promise<{ equals: number; distinct: number }> {
  const totals = { equals: 0, distinct: 0 };
  const run = async (text: string) => {
    await client.query('begin');
    await client.query(text, values);
    await client.query('rollback');
  };
  for (let warm = 0; warm < 20; warm += 1) {
    await run(equals);
    await run(distinct);
  }
  for (let block = 0; block < blocks; block += 1) {
    for (const form of block % 2 === 0 ? (['equals', 'distinct'] as const) : (['distinct', 'equals'] as const)) {
      const text = form === 'equals' ? equals : distinct;
      const before = processCpuMs(pid);
      for (let call = 0; call < blockSize; call += 1) await run(text);
      totals[form] += processCpuMs(pid) - before;
    }
  }
  return { equals: totals.equals / (blocks * blockSize), distinct: totals.distinct / (blocks * blockSize) };
}
