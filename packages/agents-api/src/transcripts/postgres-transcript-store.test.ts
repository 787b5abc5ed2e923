import { randomUUID } from 'node:crypto';
import { describeEachDatabase } from '@data-machine/testkit';
import { sql, type Kysely } from 'kysely';
import { beforeAll, expect, expectTypeOf, it } from 'vitest';
import type { AgentsApiDatabase } from '../database/agents-api-database';
import { agentsApiMigrations, migrateAgentsApi } from '../database/agents-api-migrations';
import { AgentsApiError } from '../errors';
import { createMessage } from '../messages/message';
import { codeOf } from '../testing/contract-support';
import { createPostgresTranscriptStore } from './postgres-transcript-store';
import type { SessionOwner } from './transcript-store';
import { describeTranscriptStoreContract } from './transcript-store.contract';

/** A host's database: our tables beside its own. */
interface HostDatabase extends AgentsApiDatabase {
  host_things: { id: number };
}

const userText = (content: string) => createMessage({ type: 'text', role: 'user', content, payload: {} });
const assistantText = (content: string) => createMessage({ type: 'text', role: 'assistant', content, payload: {} });

await describeEachDatabase<HostDatabase>('postgres transcript store', (context) => {
  beforeAll(async () => {
    await migrateAgentsApi(context.db);
  });

  describeTranscriptStoreContract('contract', ({ now }) => createPostgresTranscriptStore({ db: context.db, now }));

  const owner = (userId: string | null = 'user-1'): SessionOwner => ({ userId, tenantId: `pg-${randomUUID()}` });
  const messageRows = (sessionId: string) =>
    context.db.selectFrom('agents_session_messages').selectAll().where('session_id', '=', sessionId).orderBy('seq').execute();

  it("skips the WAL flush wait for an open whose durability waits for the next write, for that transaction only", async () => {
    const setting = async (db: Kysely<HostDatabase>) => (await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(db)).rows[0]?.synchronous_commit;
    const request = (durability: 'immediate' | 'with_next_write') => ({ session: { agentSlug: 'helper' }, ttlMs: 30_000, run: { seqAtStart: 0 }, durability });
    // Inside a caller's transaction the setting is visible to the rest of that transaction only.
    await context.db.transaction().execute(async (trx) => {
      const store = createPostgresTranscriptStore<HostDatabase>({ db: trx });
      await store.openSession(owner(), request('immediate'));
      expect(await setting(trx)).toBe('on');
      await store.openSession(owner(), request('with_next_write'));
      expect(await setting(trx)).toBe('off');
    });
    // On its own, the statement's implicit transaction ends with it: the connection keeps its setting.
    await context.db.connection().execute(async (connection) => {
      await createPostgresTranscriptStore<HostDatabase>({ db: connection }).openSession(owner(), request('with_next_write'));
      expect(await setting(connection)).toBe('on');
    });
  });

  it("writes the session's user_key and tenant_key on every message row", async () => {
    const store = createPostgresTranscriptStore({ db: context.db });
    const creator = owner();
    const { id } = await store.createSession(creator, { agentSlug: 'helper' });
    await store.append(creator, id, [userText('a'), assistantText('b')]);
    const rows = await messageRows(id);
    expect(rows.map((row) => [row.seq, row.user_key, row.tenant_key])).toEqual([
      [1, 'user-1', creator.tenantId],
      [2, 'user-1', creator.tenantId],
    ]);
  });

  it("stores a null user as user_key '' on the session and its messages", async () => {
    const store = createPostgresTranscriptStore({ db: context.db });
    const noUser = owner(null);
    const { id } = await store.createSession(noUser, { agentSlug: 'helper' });
    await store.append(noUser, id, [userText('a')]);
    const session = await context.db.selectFrom('agents_sessions').select(['user_key', 'tenant_key']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(session).toEqual({ user_key: '', tenant_key: noUser.tenantId });
    expect((await messageRows(id)).map((row) => row.user_key)).toEqual(['']);
  });

  it('keeps no system prompt: no such column, and only the appended messages as rows', async () => {
    const store = createPostgresTranscriptStore({ db: context.db });
    const creator = owner();
    const { id } = await store.createSession(creator, { agentSlug: 'helper' });
    await store.append(creator, id, [userText('a'), assistantText('b')]);
    const columns = await sql<{ column_name: string }>`
      select column_name from information_schema.columns where table_name in ('agents_sessions', 'agents_session_messages')
    `.execute(context.db);
    expect(columns.rows.map((column) => column.column_name).filter((name) => /prompt|system/i.test(name))).toEqual([]);
    expect((await messageRows(id)).map((row) => [row.type, row.role])).toEqual([
      ['text', 'user'],
      ['text', 'assistant'],
    ]);
  });

  it('keeps sequence numbers contiguous when two store instances append to one session in parallel', async () => {
    const first = createPostgresTranscriptStore({ db: context.db });
    const second = createPostgresTranscriptStore({ db: context.db });
    const creator = owner();
    const { id } = await first.createSession(creator, { agentSlug: 'helper' });
    const appends = Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? first : second).append(creator, id, [userText(`${index}a`), userText(`${index}b`)]));
    await Promise.all(appends);
    expect((await messageRows(id)).map((row) => row.seq)).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
    expect((await second.getSession(creator, id))?.lastSeq).toBe(40);
  });

  it("takes a host's database holding the package's tables beside its own, and refuses one without them when compiled", () => {
    const onHostDatabase = (db: Kysely<HostDatabase>) => createPostgresTranscriptStore({ db });
    const withoutOurTables = (db: Kysely<{ host_things: { id: number } }>) =>
      // @ts-expect-error the database lacks agents_sessions and the other tables
      createPostgresTranscriptStore({ db });
    expect(onHostDatabase(context.db).durable).toBe(true);
    expectTypeOf(withoutOurTables).parameter(0).toEqualTypeOf<Kysely<{ host_things: { id: number } }>>();
  });

  it('reads a stored row of a type the envelope does not have as message.invalid, not a crash', async () => {
    const who = owner();
    const store = createPostgresTranscriptStore({ db: context.db });
    const { id } = await store.createSession(who, { agentSlug: 'helper' }, { messages: [userText('Hi')] });
    // A row as an older or foreign writer might have stored it: a streamed `delta`.
    await sql`update agents_session_messages set type = 'delta', body = jsonb_set(body, '{type}', '"delta"') where session_id = ${id}`.execute(context.db);
    const error = await store.loadMessages(who, id).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'message.invalid', details: { issues: [expect.objectContaining({ path: 'type' })] } });
    expect(AgentsApiError.isInstance(error)).toBe(true);
  });

  it("finds a session and its messages by primary key, never by the owner's index, on tables not yet analyzed", async () => {
    const busy: SessionOwner = { userId: 'busy', tenantId: null };
    // Enough for the planner, without statistics, to cost the sessions' owner index below the
    // primary key for these lookups: with the owner compared by `=` every one of them flips between
    // 800 and 1000 sessions, on both backends. Twice that, for a margin.
    const sessionCount = 2000;
    const target = `ses_${sessionCount / 2}`;
    const ownerIndexScans = await context.db.connection().execute(async (connection) => {
      // A fresh copy of the package's tables and functions in a schema of its own, inside one
      // transaction rolled back at the end: never analyzed, so the planner has no statistics and,
      // given `user_key = ... and tenant_key = ...`, may read the owner's index and filter by id.
      await sql`begin`.execute(connection);
      try {
        const schema = `fresh_${randomUUID().replaceAll('-', '')}`;
        await sql`create schema ${sql.id(schema)}`.execute(connection);
        await sql`select set_config('search_path', ${schema}, true)`.execute(connection);
        for (const migration of Object.values(agentsApiMigrations.migrations)) await migration.up(connection);
        await sql`
          insert into agents_sessions (id, agent_slug, user_key, tenant_key, metadata, last_seq, created_at, updated_at)
          select 'ses_' || n, 'helper', 'busy', '', '{}', 2, now(), now() from generate_series(1, ${sessionCount}::int) as n
        `.execute(connection);
        // Two messages in every fourth session, the target among them: 1000 messages, where the
        // messages' owner index wins from 600 on. The rows are consistent by construction, so the
        // foreign key's check of each row (a query per row, most of the insert's time on PGlite)
        // is switched off for this insert only (`replica` skips the constraint triggers).
        await sql`set local session_replication_role = replica`.execute(connection);
        await sql`
          insert into agents_session_messages (session_id, seq, message_id, user_key, tenant_key, type, role, body, created_at)
          select 'ses_' || n, seq, 'msg_' || n || '_' || seq, 'busy', '', 'text', 'user',
                 jsonb_set(${JSON.stringify(userText('Hi'))}::jsonb, '{id}', to_jsonb('msg_' || n || '_' || seq)), now()
            from generate_series(4, ${sessionCount}::int, 4) as n, generate_series(1, 2) as seq
        `.execute(connection);
        await sql`set local session_replication_role = origin`.execute(connection);

        // Each lookup of one session by id and owner the store makes.
        const store = createPostgresTranscriptStore({ db: connection });
        expect((await store.getSession(busy, target))?.lastSeq).toBe(2);
        expect(await store.loadMessages(busy, target)).toHaveLength(2);
        const lease = await store.acquireLock(busy, target, 60_000);
        if (!lease.acquired) throw new Error('the lease was not taken');
        expect((await store.renewLock(busy, target, lease.token, 60_000)).renewed).toBe(true);
        const { run } = await store.beginRun(busy, target, { agentSlug: 'helper', seqAtStart: 2, idempotencyKey: 'key-1' });
        await store.updateRun(busy, target, run.id, { status: 'completed', ended: true }, { releaseLockToken: lease.token });
        const reopened = await store.openSession(busy, { session: { id: target, agentSlug: 'helper' }, ttlMs: 60_000, run: { idempotencyKey: 'key-1', seqAtStart: 2 } });
        if (!reopened.opened) throw new Error('the session was not reopened');
        expect((await store.releaseLock(busy, target, reopened.lease.token)).released).toBe(true);
        expect(await store.deleteSession(busy, target)).toBe(true);

        // This transaction's own scans of each owner's index (the schema's, by the search path).
        const scans = await sql<{ name: string; scans: string }>`
          select name, pg_stat_get_xact_numscans(to_regclass(name)) as scans
            from unnest(array['agents_session_messages_owner_idx', 'agents_sessions_owner_idx']) as name
        `.execute(connection);
        return scans.rows.map((row) => [row.name, Number(row.scans)]);
      } finally {
        await sql`rollback`.execute(connection);
      }
    });
    expect(ownerIndexScans).toEqual([
      ['agents_session_messages_owner_idx', 0],
      ['agents_sessions_owner_idx', 0],
    ]);
  });

  it('types a driver error as transcript.store_failed, keeping the driver error as cause', async () => {
    // A schema that does not exist: every statement fails in the database, as on a lost connection.
    const store = createPostgresTranscriptStore({ db: context.db.withSchema(`missing_${randomUUID().slice(0, 8)}`) });
    const error = await store.createSession(owner(), { agentSlug: 'helper' }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'transcript.store_failed', details: { operation: 'createSession' } });
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(await codeOf(store.listSessions(owner()))).toBe('transcript.store_failed');
  });
});
