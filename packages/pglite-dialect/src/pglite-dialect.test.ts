import { readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { PgliteDialect } from './pglite-dialect';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Set by the testkit's global setup in a run from the repository root; unset when this package runs alone. */
    pgliteDataDir: string;
  }
}

interface Database {
  item: { id: number; name: string };
}

describe('pglite dialect', () => {
  let pglite: PGlite;
  let db: Kysely<Database>;

  // One PGlite for the file (it takes a second to start); a fresh table per test.
  // It loads the data directory the testkit's global setup prepared (this
  // package cannot import the testkit, which depends on it), skipping initdb.
  // A plain Blob of the same bytes: the testkit's own Blob subclass differs
  // only in handing PGlite those bytes faster (the testkit's specs load
  // through it), and the dialect never sees how its PGlite was started.
  beforeAll(async () => {
    const dataDir = inject('pgliteDataDir') as string | undefined;
    pglite = await PGlite.create(dataDir === undefined ? {} : { loadDataDir: new Blob([new Uint8Array(await readFile(dataDir))]) });
    db = new Kysely<Database>({ dialect: new PgliteDialect({ pglite }) });
  });
  afterAll(async () => {
    await db.destroy();
    expect(pglite.closed).toBe(true);
  });
  beforeEach(async () => {
    await db.schema.dropTable('item').ifExists().execute();
    await db.schema.createTable('item').addColumn('id', 'integer', (column) => column.primaryKey()).addColumn('name', 'text').execute();
  });

  it('commits a transaction and rolls one back when its callback throws', async () => {
    await db.transaction().execute((transaction) => transaction.insertInto('item').values({ id: 1, name: 'kept' }).execute());
    await expect(
      db.transaction().execute(async (transaction) => {
        await transaction.insertInto('item').values({ id: 2, name: 'dropped' }).execute();
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await db.selectFrom('item').select('name').execute()).toEqual([{ name: 'kept' }]);
  });

  it('keeps a direct PGlite statement out of an open kysely transaction', async () => {
    const order: string[] = [];
    let outside: Promise<unknown> = Promise.resolve();
    await expect(
      db.transaction().execute(async (transaction) => {
        await transaction.insertInto('item').values({ id: 1, name: 'inside' }).execute();
        // Another user of the same PGlite, as pg-boss is, writes meanwhile.
        outside = pglite.query(`insert into item (id, name) values (2, 'outside')`).then(() => order.push('outside'));
        await transaction.selectFrom('item').selectAll().execute();
        order.push('inside');
        throw new Error('roll back the transaction only');
      }),
    ).rejects.toThrow('roll back');
    await outside;
    expect(order).toEqual(['inside', 'outside']);
    expect(await db.selectFrom('item').select('name').execute()).toEqual([{ name: 'outside' }]);
  });

  it('runs concurrent transactions one after the other, never interleaved', async () => {
    const run = (id: number) =>
      db.transaction().execute(async (transaction) => {
        const count = await transaction.selectFrom('item').select(sql<string>`count(*)`.as('count')).executeTakeFirstOrThrow();
        await transaction.insertInto('item').values({ id, name: `seen ${count.count}` }).execute();
      });
    await Promise.all([1, 2, 3, 4, 5].map(run));
    const names = (await db.selectFrom('item').select('name').orderBy('id').execute()).map((row) => row.name);
    expect([...names].sort()).toEqual(['seen 0', 'seen 1', 'seen 2', 'seen 3', 'seen 4']);
  });

  it('supports savepoints inside a controlled transaction', async () => {
    const transaction = await db.startTransaction().execute();
    await transaction.insertInto('item').values({ id: 1, name: 'kept' }).execute();
    const savepoint = await transaction.savepoint('before "second"').execute();
    await savepoint.insertInto('item').values({ id: 2, name: 'undone' }).execute();
    const released = await savepoint.rollbackToSavepoint('before "second"').execute();
    await released.commit().execute();
    expect(await db.selectFrom('item').select('name').execute()).toEqual([{ name: 'kept' }]);
  });

  it('applies the isolation level and access mode asked for', async () => {
    const level = await db
      .transaction()
      .setIsolationLevel('serializable')
      .setAccessMode('read only')
      .execute(async (transaction) => {
        const isolation = await sql<{ level: string }>`select current_setting('transaction_isolation') as level`.execute(transaction);
        await expect(transaction.insertInto('item').values({ id: 9, name: 'x' }).execute()).rejects.toThrow(/read-only/);
        return isolation.rows[0]?.level;
      })
      .catch((error: unknown) => error);
    // The failed insert aborts the transaction; the level was read before it.
    expect(level).toBe('serializable');
  });

  it('reports affected rows for writes', async () => {
    await db.insertInto('item').values([{ id: 1, name: 'a' }, { id: 2, name: 'b' }]).execute();
    const updated = await db.updateTable('item').set({ name: 'c' }).where('id', '>', 0).executeTakeFirstOrThrow();
    const deleted = await db.deleteFrom('item').where('id', '=', 99).executeTakeFirstOrThrow();
    expect(updated.numUpdatedRows).toBe(2n);
    expect(deleted.numDeletedRows).toBe(0n);
  });

  it('streams rows in chunks', async () => {
    await db.insertInto('item').values(Array.from({ length: 5 }, (_, index) => ({ id: index, name: `n${index}` }))).execute();
    const seen: number[] = [];
    for await (const row of db.selectFrom('item').select('id').orderBy('id').stream(2)) seen.push(row.id);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });
});
