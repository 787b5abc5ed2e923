import { describeEachDatabase } from '@data-machine/testkit';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { appRole } from '../database/migrations/0001-identity';
import { installJobEngine, type JobEngine } from '../engine/job-engine';
import { createTenant } from '../tenants/tenant-repository';
import { engineOn } from '../../test/support/job-engine-fixture';
import { migratedContext, newUser, system, type TestContext } from '../../test/support/identity-fixture';
import { createPreparedStatements, guardStatement, inlineParameters, isGuardFailure, runScoped } from './scoped-statements';

describe('inlining parameters', () => {
  it('replaces each $n with its value as an escaped literal of unknown type', () => {
    const values = ["it's \\ here", 7, true, null, new Date('2026-12-01T10:00:00.000Z'), 'sixth', 'seventh', 'eighth', 'ninth', 'tenth'];
    const text = inlineParameters(CompiledQuery.raw('select $1, $2, $3, $4, $5, $10', values));
    expect(text).toBe(`select E'it''s \\\\ here', E'7', E'true', null, E'2026-12-01T10:00:00.000Z', E'tenth'`);
  });

  it('leaves $n alone inside quotes, quoted identifiers, dollar-quoted bodies and comments', () => {
    const text = inlineParameters(CompiledQuery.raw(`select '$1', "$1", $$ $1 $$, $tag$ $1 $tag$, a$1 -- $1\n, $1`, ['value']));
    expect(text).toBe(`select '$1', "$1", $$ $1 $$, $tag$ $1 $tag$, a$1 -- $1\n, E'value'`);
  });

  it('writes an array of strings as the text of a Postgres array, its elements quoted (pg-boss passes ids so)', () => {
    const text = inlineParameters(CompiledQuery.raw('select $1::text[]', [['a', 'quote " and \\ backslash', "it's"]]));
    expect(text).toBe(`select E'{"a","quote \\\\" and \\\\\\\\ backslash","it''s"}'::text[]`);
  });

  it('refuses a reference to a parameter that is not there, and a value it cannot write as a literal', () => {
    expect(() => inlineParameters(CompiledQuery.raw('select $2', ['one']))).toThrow(RangeError);
    expect(() => inlineParameters(CompiledQuery.raw('select $1', [{ an: 'object' }]))).toThrow(TypeError);
    expect(() => inlineParameters(CompiledQuery.raw('select $1', ['nul \0 inside']))).toThrow(TypeError);
  });
});

describe('prepared statements', () => {
  it('prepares each SQL text once, and discards the cached plans every so many executions so they follow the tables', async () => {
    const sent: string[] = [];
    const prepared = createPreparedStatements(async (text) => void sent.push(text), { replanEvery: 3 });
    const query = CompiledQuery.raw('select * from dm_jobs where id = $1', ['job_1']);
    const texts = [];
    for (let use = 0; use < 4; use += 1) texts.push(await prepared.textOf(query));
    expect(texts[3]).toMatch(/^execute dm_prepared_[0-9a-f]+\(E'job_1'\)$/);
    expect(sent.map((text) => text.split(' ')[0])).toEqual(['prepare', 'discard']);
  });
});

await describeEachDatabase<DataMachineDatabase>('statements in one round trip', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    await installJobEngine(database.db);
    engine = engineOn(database);
    await engine.start();
  });
  afterAll(async () => {
    await engine.stop();
  });

  it('runs them as a transaction runs: as the plain role, with its keys set', async () => {
    const probe = sql`select current_user as role, current_setting('dm.tenant_id') as tenant, current_setting('dm.user_id') as user_id, current_setting('dm.token_hash') as token, current_setting('synchronous_commit') as commit`;
    const [rows] = await runScoped(context, engine.simpleQuery, { tenantId: 'tenant_a', userId: "o'brien", tokenHash: 'back\\slash' }, [probe.compile(context.db)], { asynchronousCommit: true });
    expect(rows).toEqual([{ role: appRole, tenant: 'tenant_a', user_id: "o'brien", token: 'back\\slash', commit: 'off' }]);
  });

  it('hands each value to the server unchanged, whatever it contains', async () => {
    const tricky = `quote ' backslash \\ dollar $1 $$ e-string E'x' unicode é ✓ newline\n end`;
    const at = new Date('2026-12-01T10:11:12.345Z');
    const list = ['a', tricky, '{braces}, commas'];
    const statement = sql<{ text: string; at: Date; number: number; flag: boolean; nothing: string | null }>`select ${tricky}::text as text, ${at}::timestamptz as at, ${42}::int as number, ${false}::boolean as flag, ${null}::text as nothing, ${list}::text[] as list`;
    const [rows] = await runScoped(context, engine.simpleQuery, { tenantId: 'tenant_a' }, [statement.compile(context.db)]);
    expect(rows).toEqual([{ text: tricky, at, number: 42, flag: false, nothing: null, list }]);
  });

  it('is all or nothing: a statement that fails undoes the ones before it', async () => {
    const owner = await newUser(context, 'batch-owner');
    const { tenant } = await createTenant(context, system, { slug: 'batch', name: 'Before', ownerUserId: owner.id });
    const rename = context.db.updateTable('dm_tenants').set({ name: 'After' }).where('id', '=', tenant.id).compile();
    await expect(runScoped(context, engine.simpleQuery, { tenantId: tenant.id }, [rename, sql`select 1 / 0`.compile(context.db)])).rejects.toThrow(/division by zero/);
    const row = await database.db.selectFrom('dm_tenants').select('name').where('id', '=', tenant.id).executeTakeFirstOrThrow();
    expect(row.name).toBe('Before');
  });

  it('fails the whole batch at a guard whose query finds no row, undoing the statements before it', async () => {
    const owner = await newUser(context, 'batch-guard');
    const { tenant } = await createTenant(context, system, { slug: 'batch-guard', name: 'Before', ownerUserId: owner.id });
    const rename = context.db.updateTable('dm_tenants').set({ name: 'After' }).where('id', '=', tenant.id).compile();
    const agentNamed = (slug: string) => guardStatement(context.db.selectFrom('dm_agents').select('id').where('slug', '=', slug).compile(), 'no such agent');
    const failure = await runScoped(context, engine.simpleQuery, { tenantId: tenant.id }, [rename, agentNamed("nobody's")]).catch((error: unknown) => error);
    expect(isGuardFailure(failure, 'no such agent')).toBe(true);
    expect((await database.db.selectFrom('dm_tenants').select('name').where('id', '=', tenant.id).executeTakeFirstOrThrow()).name).toBe('Before');
    const [agents = []] = await runScoped(context, engine.simpleQuery, { tenantId: tenant.id }, [context.db.selectFrom('dm_agents').select('slug').compile()]);
    const slug = (agents[0] as { slug: string }).slug;
    await runScoped(context, engine.simpleQuery, { tenantId: tenant.id }, [rename, agentNamed(slug)]);
    expect((await database.db.selectFrom('dm_tenants').select('name').where('id', '=', tenant.id).executeTakeFirstOrThrow()).name).toBe('After');
  });

  it("confines them to the tenant's rows, and sets nothing beyond them", async () => {
    const owner = await newUser(context, 'batch-confined');
    const mine = await createTenant(context, system, { slug: 'batch-mine', name: 'Mine', ownerUserId: owner.id });
    await createTenant(context, system, { slug: 'batch-theirs', name: 'Theirs', ownerUserId: owner.id });
    const [visible = []] = await runScoped(context, engine.simpleQuery, { tenantId: mine.tenant.id }, [context.db.selectFrom('dm_agents').select('tenant_id').compile()]);
    expect(visible.length).toBeGreaterThan(0);
    expect(new Set(visible.map((row) => (row as { tenant_id: string }).tenant_id))).toEqual(new Set([mine.tenant.id]));
    const [after] = await engine.simpleQuery(`select current_setting('dm.tenant_id', true) as tenant`);
    expect((after?.[0] as { tenant: string | null }).tenant ?? '').toBe('');
  });

  it('runs a statement prepared on a session under the keys of each batch, never with the rows of the one that prepared it', async () => {
    const owner = await newUser(context, 'batch-prepared');
    const first = await createTenant(context, system, { slug: 'batch-prepared-a', name: 'A', ownerUserId: owner.id });
    const second = await createTenant(context, system, { slug: 'batch-prepared-b', name: 'B', ownerUserId: owner.id });
    // A parameter makes it worth preparing; the same SQL text is the same prepared statement.
    const agents = () => context.db.selectFrom('dm_agents').select('tenant_id').where('slug', '!=', 'no such agent').compile();
    const tenantsSeen = async (tenantId: string) => {
      const [rows = []] = await runScoped(context, engine.simpleQuery, { tenantId }, [agents()]);
      return new Set(rows.map((row) => (row as { tenant_id: string }).tenant_id));
    };
    for (const tenantId of [first.tenant.id, second.tenant.id, first.tenant.id]) expect(await tenantsSeen(tenantId)).toEqual(new Set([tenantId]));
    // PGlite's one session, or a connection of pg-boss's pool on Postgres: prepared there, executed by name.
    const text = await engine.simpleQuery.session?.(async ({ prepared }) => prepared?.textOf(agents()));
    expect(text).toMatch(/^execute dm_prepared_[0-9a-f]+\(E'no such agent'\)$/);
  });

  it('declares text a parameter whose type the server cannot tell, as an inlined literal resolves; inlines a DO block; prepares a statement without values and a guard', async () => {
    const results = await engine.simpleQuery.session?.(async ({ run, prepared }) => {
      const untyped = CompiledQuery.raw('select $1 as value', ['x']);
      const inlined = await run(inlineParameters(untyped));
      const executed = await run((await prepared?.textOf(untyped)) ?? '');
      const block = CompiledQuery.raw('do $$ begin perform 1; end $$', []);
      const guard = guardStatement(CompiledQuery.raw('select 1 where $1::int = 1', [1]), 'never');
      return { inlined, executed, block: [await prepared?.textOf(block), block.sql], plain: await prepared?.textOf(CompiledQuery.raw('select 1 as one', [])), guard: await prepared?.textOf(guard) };
    });
    expect(results?.executed).toEqual([[{ value: 'x' }]]);
    expect(results?.executed).toEqual(results?.inlined);
    expect(results?.block[0]).toBe(results?.block[1]);
    expect(results?.plain).toMatch(/^execute dm_prepared_[0-9a-f]+$/);
    expect(results?.guard).toMatch(/^execute dm_prepared_[0-9a-f]+\(E'1', E'never'\)$/);
  });

  it('plans again after the session discarded its plans, and prepares again when it lost its prepared statements', async () => {
    const agents = () => context.db.selectFrom('dm_agents').select('id').where('slug', '!=', 'none at all').compile();
    await runScoped(context, engine.simpleQuery, { tenantId: 'tenant_a' }, [agents()]);
    await engine.simpleQuery('discard plans');
    await expect(runScoped(context, engine.simpleQuery, { tenantId: 'tenant_a' }, [agents()])).resolves.toEqual([[]]);
    await engine.simpleQuery('deallocate all');
    await expect(runScoped(context, engine.simpleQuery, { tenantId: 'tenant_a' }, [agents()])).resolves.toEqual([[]]);
    await expect(runScoped(context, engine.simpleQuery, { tenantId: 'tenant_a' }, [agents()])).resolves.toEqual([[]]);
  });
});
