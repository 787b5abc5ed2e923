import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../../database/data-machine-database';
import { flowHandlerCall } from '../../../test/support/handler-fixture';
import { migratedContext, type TestContext } from '../../../test/support/identity-fixture';
import { bindRemoteIdentity, releaseRemoteIdentity, remoteIdentityLeaseMs, reserveRemoteIdentity } from './remote-identities';

await describeEachDatabase<DataMachineDatabase>('remote identities', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });
  const identity = { handler: 'wordpress', target: 'https://blog.example', key: 'item-1' };

  it('reserves once: a second owner is busy until the first binds, then finds the remote id', async () => {
    const call = await flowHandlerCall(context, 'rid-bind');
    expect(await reserveRemoteIdentity(context, call, identity, 'job_1:publish')).toEqual({ status: 'reserved' });
    expect(await reserveRemoteIdentity(context, call, identity, 'job_2:publish')).toEqual({ status: 'busy', reservedBy: 'job_1:publish' });
    await bindRemoteIdentity(context, call, identity, '42');
    expect(await reserveRemoteIdentity(context, call, identity, 'job_2:publish')).toEqual({ status: 'bound', remoteId: '42' });
  });

  it('lets the same owner continue its own reservation (a retry of the same publish)', async () => {
    const call = await flowHandlerCall(context, 'rid-retry');
    await reserveRemoteIdentity(context, call, identity, 'job_1:publish');
    expect(await reserveRemoteIdentity(context, call, identity, 'job_1:publish')).toEqual({ status: 'reserved' });
  });

  it('hands a reservation left unbound past the lease to the next owner', async () => {
    const call = await flowHandlerCall(context, 'rid-stale');
    const start = context.now();
    await reserveRemoteIdentity(context, call, identity, 'job_1:publish');
    context.setNow(new Date(start.getTime() + remoteIdentityLeaseMs + 1));
    try {
      expect(await reserveRemoteIdentity(context, call, identity, 'job_2:publish')).toEqual({ status: 'reserved' });
      expect(await reserveRemoteIdentity(context, call, identity, 'job_1:publish')).toEqual({ status: 'busy', reservedBy: 'job_2:publish' });
    } finally {
      context.setNow(start);
    }
  });

  it('releases only its own unbound reservation', async () => {
    const call = await flowHandlerCall(context, 'rid-release');
    await reserveRemoteIdentity(context, call, identity, 'job_1:publish');
    await releaseRemoteIdentity(context, call, identity, 'job_2:publish');
    expect(await reserveRemoteIdentity(context, call, identity, 'job_2:publish')).toEqual({ status: 'busy', reservedBy: 'job_1:publish' });
    await releaseRemoteIdentity(context, call, identity, 'job_1:publish');
    expect(await reserveRemoteIdentity(context, call, identity, 'job_2:publish')).toEqual({ status: 'reserved' });
  });

  it("keeps tenants apart: another tenant's same key is its own identity", async () => {
    const [one, two] = await Promise.all([flowHandlerCall(context, 'rid-tenant-1'), flowHandlerCall(context, 'rid-tenant-2')]);
    await reserveRemoteIdentity(context, one, identity, 'job_1:publish');
    await bindRemoteIdentity(context, one, identity, '7');
    expect(await reserveRemoteIdentity(context, two, identity, 'job_1:publish')).toEqual({ status: 'reserved' });
  });
});
