import { describeEachDatabase } from '@data-machine/testkit';
import { sql, type Kysely } from 'kysely';
import { expect, it } from 'vitest';
import type { DataMachineDatabase } from './data-machine-database';
import { accessChangeTables } from './migrations/0020-access-changes';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

/** The tables named after `from` or `join` in the body of `dm_bearer_access`. */
async function tablesTheFunctionReads(db: AnyDb): Promise<string[]> {
  const { rows } = await sql<{ body: string }>`select prosrc as body from pg_proc where proname = 'dm_bearer_access'`.execute(db);
  expect(rows).toHaveLength(1);
  return [...rows[0]!.body.matchAll(/\b(?:from|join)\s+(dm_\w+)/gi)].map((match) => match[1]!);
}

/** The tables the row-level security policies of `tables` read (`dm_agents_catalog` reads `dm_tenants`), as the catalog records them. */
async function tablesTheirPoliciesRead(db: AnyDb, tables: readonly string[]): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select distinct ref.relname as name from pg_policy p
    join pg_class own on own.oid = p.polrelid
    join pg_depend d on d.classid = 'pg_policy'::regclass and d.objid = p.oid and d.refclassid = 'pg_class'::regclass
    join pg_class ref on ref.oid = d.refobjid
    where own.relname = any(${[...tables]}) and ref.relkind = 'r'`.execute(db);
  return rows.map((row) => row.name);
}

interface AccessTrigger {
  readonly table: string;
  readonly type: number;
  /** The columns of an `update of` trigger; empty for every column. */
  readonly columns: string[];
}

async function accessTriggers(db: AnyDb): Promise<AccessTrigger[]> {
  const { rows } = await sql<AccessTrigger>`
    select c.relname as "table", t.tgtype::int as type,
      coalesce((select array_agg(a.attname::text order by a.attname) from pg_attribute a where a.attrelid = t.tgrelid and a.attnum = any(t.tgattr::int2[])), '{}') as columns
    from pg_trigger t join pg_class c on c.oid = t.tgrelid
    where t.tgname = c.relname || '_access_changed'`.execute(db);
  return rows;
}

await describeEachDatabase<DataMachineDatabase>('the access change feed (migration 0020)', (database) => {
  it('has a trigger on every table dm_bearer_access reads, directly or through a row policy', async () => {
    let read = new Set(await tablesTheFunctionReads(database.db));
    for (let size = 0; size !== read.size; ) {
      size = read.size;
      read = new Set([...read, ...(await tablesTheirPoliciesRead(database.db, [...read]))]);
    }
    expect(read.size).toBeGreaterThanOrEqual(6);
    const triggered = (await accessTriggers(database.db)).map((trigger) => trigger.table);
    expect([...read].sort()).toEqual([...triggered].sort());
    expect(Object.keys(accessChangeTables).sort()).toEqual([...read].sort());
  });

  it('notifies once per statement, on insert, update and delete', async () => {
    const forEachRow = 1;
    const [insert, remove, update] = [4, 8, 16];
    for (const trigger of await accessTriggers(database.db)) {
      expect({ table: trigger.table, row: trigger.type & forEachRow }).toEqual({ table: trigger.table, row: 0 });
      expect(trigger.type & (insert | remove | update)).toBe(insert | remove | update);
    }
  });

  it('watches every column of the token tables but last_used_at', async () => {
    const tokenTables = ['dm_user_tokens', 'dm_agent_tokens'];
    for (const trigger of (await accessTriggers(database.db)).filter((candidate) => tokenTables.includes(candidate.table))) {
      const { rows } = await sql<{ name: string }>`
        select attname::text as name from pg_attribute where attrelid = ${trigger.table}::regclass and attnum > 0 and not attisdropped order by attname`.execute(database.db);
      const unwatched = rows.map((row) => row.name).filter((column) => !trigger.columns.includes(column));
      expect({ table: trigger.table, unwatched }).toEqual({ table: trigger.table, unwatched: ['last_used_at'] });
    }
    expect(Object.entries(accessChangeTables).filter(([, columns]) => columns === null).map(([table]) => table).sort()).toEqual(
      (await accessTriggers(database.db)).filter((trigger) => trigger.columns.length === 0).map((trigger) => trigger.table).sort(),
    );
  });
});
