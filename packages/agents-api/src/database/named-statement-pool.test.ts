import { createRequire } from 'node:module';
import { createTestDatabase, probePostgres, type TestDatabase } from '@data-machine/testkit';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMessage } from '../messages/message';
import { createPostgresTranscriptStore } from '../transcripts/postgres-transcript-store';
import { describeTranscriptStoreContract } from '../transcripts/transcript-store.contract';
import type { AgentsApiDatabase } from './agents-api-database';
import { migrateAgentsApi } from './agents-api-migrations';
import { withNamedStatements, type NamedQuery, type NamingPostgresPool } from './named-statement-pool';

// `pg` is the testkit's dependency, not this package's: resolved from there (see session-crash-child.ts).
const { Pool } = createRequire(import.meta.resolve('@data-machine/testkit'))('pg') as {
  Pool: new (config: { connectionString: string; max: number }) => NamingPostgresPool;
};

/** A pool (of one connection unless `max` says more) whose every query is noted (a text, or a named query) before `pg` sends it. */
function notingPool(connectionString: string, noted: (string | NamedQuery)[], max = 1): NamingPostgresPool {
  const pool = new Pool({ connectionString, max });
  // One noting client per connection, as `pg` hands out one client object per connection.
  const noting = new WeakMap<object, Awaited<ReturnType<NamingPostgresPool['connect']>>>();
  return {
    async connect() {
      const client = await pool.connect();
      const known = noting.get(client);
      if (known) return known;
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      const wrapped = Object.create(client) as typeof client;
      Object.defineProperty(wrapped, 'query', {
        value: (first: string | NamedQuery, ...rest: unknown[]) => {
          noted.push(first);
          return query(first, ...rest);
        },
      });
      noting.set(client, wrapped);
      return wrapped;
    },
    end: () => pool.end(),
  };
}

const userText = (content: string) => createMessage({ type: 'text', role: 'user', content, payload: {} });

describe.runIf(await probePostgres())('named statement pool [postgres]', () => {
  let database: TestDatabase;
  let contractDb: Kysely<AgentsApiDatabase> | undefined;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    await migrateAgentsApi(database.db);
  });
  afterAll(async () => {
    await contractDb?.destroy();
    await database.destroy();
  });
  const named = (noted: (string | NamedQuery)[], max = 1) =>
    new Kysely<AgentsApiDatabase>({ dialect: new PostgresDialect({ pool: withNamedStatements(notingPool(database.url ?? '', noted, max)) }) });

  it("sends the store's open and append as named statements, parsed once on the connection, and every other query as it was", async () => {
    const noted: (string | NamedQuery)[] = [];
    const db = named(noted);
    try {
      const store = createPostgresTranscriptStore({ db });
      const owner = { userId: 'u1', tenantId: null };
      for (let index = 0; index < 2; index += 1) {
        const opened = await store.openSession(owner, { session: { agentSlug: 'helper' }, messages: [userText('Hi')], ttlMs: 30_000, run: { seqAtStart: 0 } });
        if (!opened.opened) throw new Error('expected the open to take the lease');
        await store.append(owner, opened.session.id, [userText('more')], {}, { lockToken: opened.lease.token });
        await store.getSession(owner, opened.session.id);
      }
      const names = noted.map((query) => (typeof query === 'string' ? null : query.name));
      expect(names).toEqual(['agents_api_open_session_v1', 'agents_api_append_messages_v1', null, 'agents_api_open_session_v1', 'agents_api_append_messages_v1', null]);
      const prepared = await sql<{ name: string }>`select name from pg_prepared_statements order by name`.execute(db);
      expect(prepared.rows.map((row) => row.name)).toEqual(['agents_api_append_messages_v1', 'agents_api_open_session_v1']);
    } finally {
      await db.destroy();
    }
  });

  it('hands kysely the same client for the same connection, so its per-connection set-up runs once', async () => {
    let created = 0;
    const pool = withNamedStatements(notingPool(database.url ?? '', []));
    const db = new Kysely<AgentsApiDatabase>({ dialect: new PostgresDialect({ pool, onCreateConnection: () => Promise.resolve(void (created += 1)) }) });
    try {
      for (let index = 0; index < 3; index += 1) await sql`select 1`.execute(db);
      expect(created).toBe(1);
    } finally {
      await db.destroy();
    }
  });

  describeTranscriptStoreContract('transcript store contract through named statements', ({ now }) => {
    contractDb ??= named([], 10);
    return createPostgresTranscriptStore({ db: contractDb, now });
  });
});
