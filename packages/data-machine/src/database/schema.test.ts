import { describeEachDatabase } from '@data-machine/testkit';
import { sql, type Kysely } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { migratedContext, newUser, system } from '../../test/support/identity-fixture';
import { createTenant } from '../tenants/tenant-repository';
import { appRole } from './migrations/0001-identity';
import { substrateTablesClearedWithAgent } from './migrations/0007-agent-origin';
import { productTables } from './schema-catalog';

interface TableFacts {
  readonly name: string;
  readonly rowSecurity: boolean;
  readonly forced: boolean;
  readonly notNullColumns: readonly string[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function productTablesInCatalog(db: Kysely<any>): Promise<TableFacts[]> {
  const { rows } = await sql<{ name: string; row_security: boolean; forced: boolean; not_null: string[] | null }>`
    select c.relname as name, c.relrowsecurity as row_security, c.relforcerowsecurity as forced,
           array_agg(a.attname::text) filter (where a.attnotnull) as not_null
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace and n.nspname = current_schema()
    left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where c.relkind = 'r' and c.relname like 'dm\\_%' escape '\\'
    group by c.relname, c.relrowsecurity, c.relforcerowsecurity
    order by c.relname`.execute(db);
  return rows.map((row) => ({ name: row.name, rowSecurity: row.row_security, forced: row.forced, notNullColumns: row.not_null ?? [] }));
}

await describeEachDatabase('product schema', (database) => {
  beforeAll(async () => {
    await migratedContext(database.db);
  });

  it('lists every dm_ table as global, tenant-level or agent-scoped', async () => {
    const listed = [...productTables.global, ...productTables.tenantLevel, ...productTables.agentScoped].sort();
    expect((await productTablesInCatalog(database.db)).map((table) => table.name)).toEqual(listed);
  });

  it('gives every tenant table tenant_id NOT NULL and row-level security, enabled and forced', async () => {
    const tables = await productTablesInCatalog(database.db);
    for (const name of [...productTables.tenantLevel, ...productTables.agentScoped]) {
      const table = tables.find((candidate) => candidate.name === name);
      expect({ name, tenantId: table?.notNullColumns.includes('tenant_id'), rowSecurity: table?.rowSecurity, forced: table?.forced }).toEqual({
        name,
        tenantId: true,
        rowSecurity: true,
        forced: true,
      });
    }
  });

  it('gives every agent-scoped table agent_id NOT NULL', async () => {
    const tables = await productTablesInCatalog(database.db);
    for (const name of productTables.agentScoped) {
      expect({ name, agentId: tables.find((table) => table.name === name)?.notNullColumns.includes('agent_id') }).toEqual({ name, agentId: true });
    }
  });

  it('shows a query without the tenant setting no rows, and one with it only its tenant', async () => {
    const context = await migratedContext(database.db);
    const owner = await newUser(context, 'rls-owner');
    const first = await createTenant(context, system, { slug: 'rls-first', name: 'First', ownerUserId: owner.id });
    await createTenant(context, system, { slug: 'rls-second', name: 'Second', ownerUserId: owner.id });
    // The test connection is a superuser, which row-level security never applies to: that is why queries switch role.
    const superuser = await sql<{ rolsuper: boolean }>`select rolsuper from pg_roles where rolname = current_user`.execute(database.db);
    expect(superuser.rows[0]?.rolsuper).toBe(true);
    const seen = await database.db.transaction().execute(async (trx) => {
      await sql`set local role ${sql.id(appRole)}`.execute(trx);
      const without = await sql<{ id: string }>`select id from dm_agents`.execute(trx);
      await sql`select set_config('dm.tenant_id', ${first.tenant.id}, true)`.execute(trx);
      const within = await sql<{ tenant_id: string }>`select tenant_id from dm_agents`.execute(trx);
      return { without: without.rows.length, within: [...new Set(within.rows.map((row) => row.tenant_id))] };
    });
    expect(seen).toEqual({ without: 0, within: [first.tenant.id] });
  });

  it("refuses to write a row into another tenant's name", async () => {
    const context = await migratedContext(database.db);
    const owner = await newUser(context, 'rls-writer');
    const mine = await createTenant(context, system, { slug: 'rls-mine', name: 'Mine', ownerUserId: owner.id });
    const theirs = await createTenant(context, system, { slug: 'rls-theirs', name: 'Theirs', ownerUserId: owner.id });
    const attempt = database.db.transaction().execute(async (trx) => {
      await sql`set local role ${sql.id(appRole)}`.execute(trx);
      await sql`select set_config('dm.tenant_id', ${mine.tenant.id}, true)`.execute(trx);
      await sql`insert into dm_memberships (tenant_id, user_id, role, created_at) values (${theirs.tenant.id}, ${owner.id}, 'admin', now())`.execute(trx);
    });
    await expect(attempt).rejects.toThrow(/row-level security/);
  });

  it('lets the plain role read and delete the substrate rows an agent deletion clears, save memory files, read run records (metrics), and nothing more', async () => {
    const { rows } = await sql<{ table_name: string; privilege_type: string }>`
      select table_name, privilege_type from information_schema.role_table_grants
      where grantee = ${appRole} and table_name like 'agents\_%' escape '\'
      order by table_name, privilege_type`.execute(database.db);
    const expected = [
      ...substrateTablesClearedWithAgent.flatMap((table) => [`${table}:DELETE`, `${table}:SELECT`]),
      'agents_memory_files:INSERT',
      'agents_memory_files:UPDATE',
      'agents_runs:SELECT',
    ].sort();
    expect(rows.map((row) => `${row.table_name}:${row.privilege_type}`)).toEqual(expected);
  });

  it('holds the plain role to its tenant by a restrictive policy on every substrate table it has a privilege on', async () => {
    const { rows } = await sql<{ name: string; row_security: boolean; policies: string[] | null }>`
      select c.relname as name, c.relrowsecurity as row_security,
             array_agg(p.polname::text order by p.polname) filter (where not p.polpermissive and p.polroles @> array[r.oid]) as policies
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = current_schema()
      join pg_roles r on r.rolname = ${appRole}
      left join pg_policy p on p.polrelid = c.oid
      where c.relkind = 'r' and c.relname like 'agents\\_%' escape '\\'
        and exists (select 1 from information_schema.role_table_grants g where g.grantee = ${appRole} and g.table_name = c.relname)
      group by c.relname, c.relrowsecurity
      order by c.relname`.execute(database.db);
    expect(rows).toEqual([
      { name: 'agents_memory_files', row_security: true, policies: ['agents_memory_files_own_agent'] },
      { name: 'agents_runs', row_security: true, policies: ['agents_runs_own_tenant'] },
      { name: 'agents_sessions', row_security: true, policies: ['agents_sessions_own_tenant'] },
    ]);
  });

  it('records where every agent came from, product by default', async () => {
    const context = await migratedContext(database.db);
    const owner = await newUser(context, 'origin-owner');
    const { defaultAgent } = await createTenant(context, system, { slug: 'origin', name: 'Origin', ownerUserId: owner.id });
    const { rows } = await sql<{ origin: string }>`select origin from dm_agents where id = ${defaultAgent.id}`.execute(database.db);
    expect(rows).toEqual([{ origin: 'product' }]);
    await expect(sql`update dm_agents set origin = 'elsewhere' where id = ${defaultAgent.id}`.execute(database.db)).rejects.toThrow(/check constraint/);
  });
});
