import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { flowHandlerCall } from '../../test/support/handler-fixture';
import { createRecordsHandler, recordsConfigSchema } from './records-handler';

await describeEachDatabase<DataMachineDatabase>('records publish handler', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const publishTarget = (slug: string) => flowHandlerCall(context, slug, { jobId: 'job_1', stepKey: 'store' });

  function recordsOf(tenantId: string) {
    return database.db.selectFrom('dm_records').selectAll().where('tenant_id', '=', tenantId).orderBy('idempotency_key').execute();
  }

  it('appends the input as a row of its collection', async () => {
    const call = await publishTarget('rec-append');
    const handler = createRecordsHandler(context);
    const result = await handler.publish({ body: { title: 'A', words: 3 }, idempotencyKey: 'job_1:store' }, { collection: 'digests' }, call);
    expect(result.created).toBe(true);
    const rows = await recordsOf(call.tenantId);
    expect(rows).toEqual([
      expect.objectContaining({ id: result.id, agent_id: call.agentId, flow_id: call.flowId, job_id: 'job_1', collection: 'digests', body: { title: 'A', words: 3 } }),
    ]);
  });

  it('finds its row on a retry with the same key instead of appending a second', async () => {
    const call = await publishTarget('rec-retry');
    const handler = createRecordsHandler(context);
    const first = await handler.publish({ body: { n: 1 }, idempotencyKey: 'job_1:store' }, { collection: 'digests' }, call);
    const retried = await handler.publish({ body: { n: 1 }, idempotencyKey: 'job_1:store' }, { collection: 'digests' }, call);
    expect(retried).toEqual({ id: first.id, created: false });
    const other = await handler.publish({ body: { n: 2 }, idempotencyKey: 'job_2:store' }, { collection: 'digests' }, call);
    expect(other.created).toBe(true);
    expect((await recordsOf(call.tenantId)).map((row) => row.body)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('appends once under two concurrent publishes with the same key', async () => {
    const call = await publishTarget('rec-race');
    const handler = createRecordsHandler(context);
    const results = await Promise.all([1, 2, 3].map(() => handler.publish({ body: { n: 1 }, idempotencyKey: 'job_1:store' }, { collection: 'digests' }, call)));
    expect(new Set(results.map((result) => result.id)).size).toBe(1);
    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect(await recordsOf(call.tenantId)).toHaveLength(1);
  });

  it("writes only in the call's tenant: another tenant's same key is its own row", async () => {
    const [one, two] = await Promise.all([publishTarget('rec-tenant-1'), publishTarget('rec-tenant-2')]);
    const handler = createRecordsHandler(context);
    const a = await handler.publish({ body: 'one', idempotencyKey: 'k' }, { collection: 'digests' }, one);
    const b = await handler.publish({ body: 'two', idempotencyKey: 'k' }, { collection: 'digests' }, two);
    expect(a.id).not.toBe(b.id);
    expect((await recordsOf(one.tenantId)).map((row) => row.body)).toEqual(['one']);
    expect((await recordsOf(two.tenantId)).map((row) => row.body)).toEqual(['two']);
  });

  describe('configuration', () => {
    it('needs a collection slug', () => {
      expect(recordsConfigSchema.safeParse({ collection: 'digests' }).success).toBe(true);
      expect(recordsConfigSchema.safeParse({}).success).toBe(false);
      expect(recordsConfigSchema.safeParse({ collection: 'Not A Slug' }).success).toBe(false);
    });
  });
});
