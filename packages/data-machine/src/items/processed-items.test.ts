import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createJob } from '../jobs/job-lifecycle';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { agentWithFlow, asEngine, type EngineWorld } from '../../test/support/engine-fixture';
import { claimItems, markItemsDone, releaseItems } from './processed-items';

await describeEachDatabase<DataMachineDatabase>('processed items', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const newJob = async (world: EngineWorld) => (await asEngine(context, world.tenant.id, (trx) => createJob(context, trx, { flowId: world.flowId, source: 'manual' }))).job.id;
  const claim = (world: EngineWorld, jobId: string, sourceKeys: readonly string[], max: number) =>
    asEngine(context, world.tenant.id, (trx) => claimItems(context, trx, { flowId: world.flowId, stepKey: 'fetch', jobId, sourceKeys, max }));
  const statuses = async (world: EngineWorld) =>
    (await database.db.selectFrom('dm_processed_items').select(['source_key', 'status']).where('flow_id', '=', world.flowId).orderBy('source_key').execute()).map((row) => `${row.source_key}:${row.status}`);

  it('claims the first new keys in the given order, at most max after de-duplication', async () => {
    const world = await agentWithFlow(context, 'items-order');
    expect(await claim(world, await newJob(world), ['c', 'a', 'c', 'b', 'd'], 3)).toEqual(['c', 'a', 'b']);
  });

  it('never claims a key that is claimed or done, and fills max from the keys after it', async () => {
    const world = await agentWithFlow(context, 'items-skip');
    const first = await newJob(world);
    await claim(world, first, ['a', 'b'], 2);
    await asEngine(context, world.tenant.id, (trx) => markItemsDone(context, trx, { flowId: world.flowId, stepKey: 'fetch', sourceKeys: ['a'] }));
    expect(await claim(world, await newJob(world), ['a', 'b', 'c', 'd', 'e'], 2)).toEqual(['c', 'd']);
    expect(await statuses(world)).toEqual(['a:done', 'b:claimed', 'c:claimed', 'd:claimed']);
  });

  it('lets exactly one of two concurrent jobs claim the same key', async () => {
    const world = await agentWithFlow(context, 'items-race');
    const jobs = await Promise.all(Array.from({ length: 6 }, () => newJob(world)));
    const claims = await Promise.all(jobs.map((job) => claim(world, job, ['same'], 1)));
    expect(claims.filter((claimed) => claimed.length === 1)).toHaveLength(1);
  });

  it("releases a failed job's claims so the item is taken again, and never a done item", async () => {
    const world = await agentWithFlow(context, 'items-release');
    const failing = await newJob(world);
    await claim(world, failing, ['a', 'b'], 2);
    await asEngine(context, world.tenant.id, (trx) => markItemsDone(context, trx, { flowId: world.flowId, stepKey: 'fetch', sourceKeys: ['a'] }));
    expect(await asEngine(context, world.tenant.id, (trx) => releaseItems(trx, { jobId: failing }))).toBe(1);
    expect(await claim(world, await newJob(world), ['a', 'b'], 2)).toEqual(['b']);
  });

  it('marks every claim of a job done by job, and an empty key list selects nothing', async () => {
    const world = await agentWithFlow(context, 'items-done');
    const job = await newJob(world);
    await claim(world, job, ['a', 'b'], 5);
    expect(await asEngine(context, world.tenant.id, (trx) => markItemsDone(context, trx, { flowId: world.flowId, stepKey: 'fetch', sourceKeys: [] }))).toBe(0);
    expect(await asEngine(context, world.tenant.id, (trx) => markItemsDone(context, trx, { jobId: job }))).toBe(2);
    expect(await statuses(world)).toEqual(['a:done', 'b:done']);
  });

  it('refuses a flow of another tenant', async () => {
    const world = await agentWithFlow(context, 'items-tenant');
    const other = await agentWithFlow(context, 'items-tenant-other');
    expect(await codeOf(claim({ ...world, flowId: other.flowId }, 'job_x', ['a'], 1))).toBe('flow.not_found');
  });
});
