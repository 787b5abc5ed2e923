import { describeEachDatabase } from '@data-machine/testkit';
import { authenticateBearer, createDataMachineContext, DataMachineError, listMyTenants, type DataMachineContext } from 'data-machine';
import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { migrateAll } from '../database/migrate';
import { initialiseIfEmpty } from './first-start';

const ada = { email: 'Ada@Example.test', displayName: 'Ada', tenantSlug: 'acme', tenantName: 'Acme' };

await describeEachDatabase('the first start (init, and start on an empty embedded database)', (database) => {
  let context: DataMachineContext;
  beforeAll(async () => {
    await migrateAll(database.db);
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
  });

  const counts = async () => {
    const { rows } = await sql<{ users: number; tenants: number }>`select (select count(*)::int from dm_users) as users, (select count(*)::int from dm_tenants) as tenants`.execute(context.db);
    return rows[0];
  };

  it('refuses a malformed email with a typed error, writing nothing', async () => {
    const refused = await initialiseIfEmpty(context, { ...ada, email: 'not-an-email' }).catch((error: unknown) => error);
    expect(DataMachineError.isInstance(refused)).toBe(true);
    expect(await counts()).toEqual({ users: 0, tenants: 0 });
  });

  it('creates the tenant, its owner and a working owner token on an empty database', async () => {
    const initialised = await initialiseIfEmpty(context, ada);
    expect({ tenant: initialised?.tenant.slug, owner: initialised?.owner.email }).toEqual({ tenant: 'acme', owner: 'ada@example.test' });
    const acting = await authenticateBearer(context, initialised?.ownerToken ?? '', 'cli');
    expect((await listMyTenants(context, acting.actor)).map(({ tenant, role }) => [tenant.slug, role])).toEqual([['acme', 'owner']]);
  });

  it('does nothing once the database has a tenant: a second init or start shows no token', async () => {
    expect(await initialiseIfEmpty(context, { ...ada, email: 'someone@example.test', tenantSlug: 'other' })).toBeUndefined();
    expect(await counts()).toEqual({ users: 1, tenants: 1 });
  });
});
