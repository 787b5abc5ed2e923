import { randomUUID } from 'node:crypto';
import { describeEachDatabase } from '@data-machine/testkit';
import { sql, type Kysely } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import type { AgentsApiDatabase } from '../database/agents-api-database';
import { migrateAgentsApi } from '../database/agents-api-migrations';
import { codeOf } from '../testing/contract-support';
import { describeMemoryStoreContract } from './memory-store.contract';
import type { MemoryScope } from './memory-store';
import { createPostgresMemoryStore } from './postgres-memory-store';

/** A host's database: our tables beside its own. */
interface HostDatabase extends AgentsApiDatabase {
  host_things: { id: number };
}

await describeEachDatabase<HostDatabase>('postgres memory store', (context) => {
  beforeAll(async () => {
    await migrateAgentsApi(context.db);
  });

  describeMemoryStoreContract('contract', ({ now }) => createPostgresMemoryStore({ db: context.db, now }));

  const scope = (overrides: Partial<MemoryScope> = {}): MemoryScope => ({
    layer: 'agent',
    tenantId: `pg-${randomUUID()}`,
    agentSlug: 'helper',
    userId: null,
    path: 'MEMORY.md',
    ...overrides,
  });
  const storedRow = (db: Kysely<AgentsApiDatabase>, file: MemoryScope) =>
    db.selectFrom('agents_memory_files').selectAll().where('tenant_key', '=', file.tenantId ?? '').where('path', '=', file.path).execute();

  it('stores a file of no user under user_key "" and a user file under the user id', async () => {
    const store = createPostgresMemoryStore({ db: context.db });
    const noUser = scope();
    const withUser = scope({ tenantId: noUser.tenantId, layer: 'user', userId: 'u1' });
    await store.write(noUser, 'shared');
    await store.write(withUser, 'personal');
    const rows = await storedRow(context.db, noUser);
    expect(rows.map((row) => [row.layer, row.user_key, row.content]).sort()).toEqual([
      ['agent', '', 'shared'],
      ['user', 'u1', 'personal'],
    ]);
  });

  it('stores a file of no tenant under tenant_key ""', async () => {
    const store = createPostgresMemoryStore({ db: context.db });
    const file = scope({ tenantId: null, path: `${randomUUID()}.md` });
    await store.write(file, 'single tenant');
    expect((await storedRow(context.db, file)).map((row) => [row.tenant_key, row.content])).toEqual([['', 'single tenant']]);
  });

  it('stores metadata as a jsonb object, not as a JSON string', async () => {
    const store = createPostgresMemoryStore({ db: context.db });
    const file = scope();
    await store.write(file, 'x', { metadata: { pinned: true } });
    const result = await sql<{ kind: string; pinned: boolean }>`
      select jsonb_typeof(metadata) as kind, (metadata->>'pinned')::boolean as pinned
      from agents_memory_files where tenant_key = ${file.tenantId}`.execute(context.db);
    expect(result.rows).toEqual([{ kind: 'object', pinned: true }]);
  });

  it('writes updated_at from the given clock, not the database clock', async () => {
    const fixed = new Date('2001-02-03T04:05:06.789Z');
    const store = createPostgresMemoryStore({ db: context.db, now: () => fixed });
    const file = scope();
    await store.write(file, 'x');
    const [row] = await storedRow(context.db, file);
    expect(row?.updated_at).toEqual(fixed);
  });

  it('types a driver error as memory.store_failed, keeping the driver error as cause', async () => {
    // A schema that does not exist: every statement fails in the database, as on a lost connection.
    const store = createPostgresMemoryStore({ db: context.db.withSchema(`missing_${randomUUID().slice(0, 8)}`) });
    const error = await store.read(scope()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'memory.store_failed', details: { operation: 'read' } });
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(await codeOf(store.write(scope(), 'x'))).toBe('memory.store_failed');
    expect(await codeOf(store.list({ layer: 'agent', tenantId: 'w', agentSlug: 'helper', userId: null }))).toBe('memory.store_failed');
  });
});
