import { sql, type Generated } from 'kysely';
import { expect, it } from 'vitest';
import { availableBackends } from './test-database';
import { describeEachDatabase } from './describe-each-database';

interface Database {
  note: { id: Generated<number>; body: string };
}

await describeEachDatabase<Database>('test database helper', (context) => {
  it('gives the suite its own empty database', async () => {
    const tables = await sql<{ count: string }>`select count(*) as count from information_schema.tables where table_schema = 'public'`.execute(context.db);
    expect(tables.rows[0]?.count).toBe('0');
  });

  it('runs queries and transactions on the backend named in the suite', async () => {
    await context.db.schema.createTable('note').addColumn('id', 'serial', (column) => column.primaryKey()).addColumn('body', 'text', (column) => column.notNull()).execute();
    await context.db.transaction().execute(async (transaction) => {
      await transaction.insertInto('note').values({ body: 'kept' }).execute();
    });
    await expect(
      context.db.transaction().execute(async (transaction) => {
        await transaction.insertInto('note').values({ body: 'rolled back' }).execute();
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const bodies = await context.db.selectFrom('note').select('body').execute();
    expect(bodies).toEqual([{ body: 'kept' }]);
    expect(context.database.url === undefined).toBe(context.backend === 'pglite');
  });

  it('parses values the same way on both backends', async () => {
    const result = await sql<Record<string, unknown>>`
      select 9007199254740993::int8 as big, count(*) as counted, array[1, 2]::int8[] as bigs, 1.50::numeric as decimal,
             2::int4 as small, '\\x0102'::bytea as bytes, '{"a": [1]}'::jsonb as document,
             '2020-01-02T03:04:05Z'::timestamptz as instant, true as flag, array['a', 'b'] as words`.execute(context.db);
    expect(result.rows[0]).toEqual({
      big: '9007199254740993',
      counted: '1',
      bigs: ['1', '2'],
      decimal: '1.50',
      small: 2,
      bytes: Buffer.from([1, 2]),
      document: { a: [1] },
      instant: new Date('2020-01-02T03:04:05Z'),
      flag: true,
      words: ['a', 'b'],
    });
  });
});

it('runs database tests on Postgres too whenever it is reachable, and always in CI', async () => {
  const backends = await availableBackends();
  expect(backends).toContain('pglite');
  if (process.env.CI === 'true') expect(backends).toContain('postgres');
});
