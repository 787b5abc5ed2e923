import { describeEachDatabase } from '@data-machine/testkit';
import { sql, type Kysely } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { appRole } from '../database/migrations/0001-identity';
import { migratedContext, newUser, system, type TestContext } from '../../test/support/identity-fixture';
import { createTenant } from '../tenants/tenant-repository';
import { commitSynchronously, inTenant, inTransaction } from './tenant-transaction';

await describeEachDatabase<DataMachineDatabase>('tenant transaction', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const session = (trx: Parameters<Parameters<typeof inTenant>[3]>[0]) =>
    sql<{ role: string; tenant: string; user_id: string; token: string }>`
      select current_user as role, current_setting('dm.tenant_id') as tenant, current_setting('dm.user_id') as user_id, current_setting('dm.token_hash') as token`
      .execute(trx)
      .then((result) => result.rows[0]);

  it('runs as the plain role with its keys set, and only for that transaction', async () => {
    const inside = await inTransaction(context, { tenantId: 'tenant_a', userId: 'user_a', tokenHash: 'hash_a' }, session);
    expect(inside).toEqual({ role: appRole, tenant: 'tenant_a', user_id: 'user_a', token: 'hash_a' });
    const after = await sql<{ role: string; tenant: string | null }>`select current_user as role, current_setting('dm.tenant_id', true) as tenant`.execute(database.db);
    expect(after.rows[0]?.role).not.toBe(appRole);
    expect(after.rows[0]?.tenant ?? '').toBe('');
  });

  const commitMode = (executor: Kysely<DataMachineDatabase>) =>
    sql<{ mode: string }>`select current_setting('synchronous_commit') as mode`.execute(executor).then((result) => result.rows[0]?.mode);

  it('commits synchronously unless asked, and an asynchronous commit holds for its transaction only, until turned back', async () => {
    const before = await commitMode(database.db);
    expect(await inTenant(context, 'tenant_a', null, commitMode)).toBe(before);
    expect(await inTenant(context, 'tenant_a', null, commitMode, { asynchronousCommit: true })).toBe('off');
    const turnedBack = await inTenant(
      context,
      'tenant_a',
      null,
      async (trx) => {
        await commitSynchronously(trx);
        return commitMode(trx);
      },
      { asynchronousCommit: true },
    );
    expect(turnedBack).toBe('on');
    expect(await commitMode(database.db)).toBe(before);
  });

  it("sees its own tenant's rows and none of another's", async () => {
    const owner = await newUser(context, 'trx-owner');
    const mine = await createTenant(context, system, { slug: 'trx-mine', name: 'Mine', ownerUserId: owner.id });
    const theirs = await createTenant(context, system, { slug: 'trx-theirs', name: 'Theirs', ownerUserId: owner.id });
    const visible = await inTenant(context, mine.tenant.id, null, (trx) => trx.selectFrom('dm_agents').select('tenant_id').execute());
    expect(visible.length).toBeGreaterThan(0);
    expect(new Set(visible.map((row) => row.tenant_id))).toEqual(new Set([mine.tenant.id]));
    expect(visible.some((row) => row.tenant_id === theirs.tenant.id)).toBe(false);
  });
});
