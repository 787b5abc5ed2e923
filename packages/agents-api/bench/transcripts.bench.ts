/**
 * `pnpm bench`: the Postgres transcript store, on embedded PGlite and on
 * real Postgres when it answers.
 * - Append rate: batches of 2 messages (a tool step's call, then its result),
 *   against the same two rows written by one plain insert (no session
 *   counter, no transaction) as the baseline.
 * - Loading the last 50 messages of a session with 100,000 of them, as a
 *   ratio to a session with 100 (target below 2: it must not scan).
 */
import { randomUUID } from 'node:crypto';
import { compareToBaseline, createTestDatabase, probePostgres, type DatabaseBackend } from '@data-machine/testkit';
import { sql, type Kysely } from 'kysely';
import type { AgentsApiDatabase } from '../src/database/agents-api-database';
import { migrateAgentsApi } from '../src/database/agents-api-migrations';
import { createMessage } from '../src/messages/message';
import { createPostgresTranscriptStore } from '../src/transcripts/postgres-transcript-store';
import type { SessionOwner } from '../src/transcripts/transcript-store';

const owner: SessionOwner = { userId: 'bench-user', tenantId: 'bench-tenant' };

async function benchBackend(backend: DatabaseBackend): Promise<void> {
  const database = await createTestDatabase(backend);
  try {
    const db = database.db as Kysely<AgentsApiDatabase>;
    await migrateAgentsApi(db);
    await sql`create table bench_plain_rows (session_id text not null, seq integer not null, body jsonb not null)`.execute(db);
    const store = createPostgresTranscriptStore({ db });
    await benchAppends(backend, db, store);
    await benchLoadLast(backend, db, store);
  } finally {
    await database.destroy();
  }
}

async function benchAppends(backend: DatabaseBackend, db: Kysely<AgentsApiDatabase>, store: ReturnType<typeof createPostgresTranscriptStore>): Promise<void> {
  const session = await store.createSession(owner, { agentSlug: 'bench' });
  const step = () => [
    createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [{ id: `call_${randomUUID()}`, name: 'lookup', arguments: '{}' }] } }),
    createMessage({ type: 'tool_result', role: 'tool', content: 'result', payload: { toolCallId: 'call_x', toolName: 'lookup', isError: false } }),
  ];
  let plainSeq = 0;
  const plainDb = db as unknown as Kysely<{ bench_plain_rows: { session_id: string; seq: number; body: string } }>;
  const result = await compareToBaseline({
    name: `transcript append, batches of 2 [${backend}]`,
    baseline: {
      label: 'one plain insert of 2 rows',
      run: () =>
        plainDb
          .insertInto('bench_plain_rows')
          .values(step().map((message) => ({ session_id: session.id, seq: ++plainSeq, body: JSON.stringify(message) })))
          .execute(),
    },
    subject: { label: 'store.append', run: () => store.append(owner, session.id, step()) },
    warmup: 20,
    rounds: 40,
    perRound: 10,
  });
  process.stdout.write(`  append rate [${backend}]: ${Math.round((2 * 1000) / result.subjectMs)} messages/s\n`);
}

async function benchLoadLast(backend: DatabaseBackend, db: Kysely<AgentsApiDatabase>, store: ReturnType<typeof createPostgresTranscriptStore>): Promise<void> {
  const small = await seededSession(db, store, 100);
  const large = await seededSession(db, store, 100_000);
  await compareToBaseline({
    name: `load the last 50 messages [${backend}]`,
    baseline: { label: 'of 100', run: () => store.loadMessages(owner, small, { last: 50 }) },
    subject: { label: 'of 100,000', run: () => store.loadMessages(owner, large, { last: 50 }) },
    target: 2,
    warmup: 20,
    rounds: 40,
    perRound: 10,
  });
}

/** A session with `count` text messages, written in bulk by SQL: the bench measures reads, not this. */
async function seededSession(db: Kysely<AgentsApiDatabase>, store: ReturnType<typeof createPostgresTranscriptStore>, count: number): Promise<string> {
  const session = await store.createSession(owner, { agentSlug: 'bench' });
  const template = createMessage({ type: 'text', role: 'user', content: 'a message of ordinary length, about sixty characters long', payload: {} });
  await sql`
    insert into agents_session_messages (session_id, seq, message_id, user_key, tenant_key, type, role, body, created_at)
    select ${session.id}, n, 'msg_' || n, ${owner.userId}, ${owner.tenantId}, 'text', 'user',
           jsonb_set(${JSON.stringify(template)}::jsonb, '{id}', to_jsonb('msg_' || n)), now()
    from generate_series(1, ${count}::integer) as n
  `.execute(db);
  await db.updateTable('agents_sessions').set({ last_seq: count }).where('id', '=', session.id).execute();
  await sql`analyze agents_session_messages`.execute(db);
  return session.id;
}

await benchBackend('pglite');
if (await probePostgres()) await benchBackend('postgres');
else process.stdout.write('transcript benches on Postgres skipped: it is not reachable\n');
