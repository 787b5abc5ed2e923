import { describeEachDatabase } from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import type { PipelineStepInput, Step } from '../steps/step';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { itemsConfig, runWorld, type RunWorld } from '../../test/support/flow-run-fixture';
import { builtInHandlers } from '../../test/support/pipeline-fixture';
import { startFlowRun } from './flow-run';
import type { JobEngine } from './job-engine';

const fanOutSteps: readonly PipelineStepInput[] = [
  { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
  { key: 'check', type: 'upsert', handler: 'records', config: { collection: 'checked' } },
  { key: 'store', type: 'publish', handler: 'records', config: { collection: 'out' } },
];

await describeEachDatabase<DataMachineDatabase>('fan-out', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let stop: () => Promise<void>;
  // The check step refuses items whose id starts with "bad" (a permanent error), and passes the rest on.
  const check: Step = {
    type: 'upsert',
    retrySafe: true,
    async execute(input) {
      const id = (input.value as { id: string }).id;
      if (id.startsWith('bad')) throw new DataMachineError('access.denied', `item ${id} is refused`);
      return { kind: 'output', output: input.value };
    },
  };

  beforeAll(async () => {
    context = await migratedContext(database.db);
    engine = engineOn(database);
    ({ stop } = await runningWorker(context, engine, builtInHandlers(context), { upsert: check }, { batchSize: 8 }));
  });
  afterAll(async () => {
    await stop();
  });

  const run = async (world: RunWorld) => (await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' })).job.id;
  const childrenOf = (parentId: string) =>
    database.db.selectFrom('dm_jobs').select(['item_key', 'status', 'status_reason']).where('parent_job_id', '=', parentId).orderBy('item_key').execute();
  const published = async (world: RunWorld) =>
    (await database.db.selectFrom('dm_records').select('body').where('flow_id', '=', world.flowId).where('collection', '=', 'out').execute()).map((row) => (row.body as { id: string }).id).sort();

  it('makes the job a parent and each item a child that runs the remaining steps; the parent completes when every child has', async () => {
    const world = await runWorld(context, 'fan-all', fanOutSteps, { stepConfig: itemsConfig(['a', 'b', 'c']), maxItems: 10 });
    const parentId = await run(world);
    const parent = await jobReaches(context, world.tenantId, parentId, ['completed', 'failed']);
    expect({ status: parent.status, reason: parent.status_reason, total: parent.children_total, ended: parent.children_ended }).toEqual({ status: 'completed', reason: null, total: 3, ended: 3 });
    expect(await childrenOf(parentId)).toEqual(['a', 'b', 'c'].map((item_key) => ({ item_key, status: 'completed', status_reason: null })));
    expect(await published(world)).toEqual(['a', 'b', 'c']);
    const items = await database.db.selectFrom('dm_processed_items').select(['source_key', 'status']).where('flow_id', '=', world.flowId).orderBy('source_key').execute();
    expect(items).toEqual(['a', 'b', 'c'].map((source_key) => ({ source_key, status: 'done' })));
  });

  it('applies max items per run after de-duplication', async () => {
    const world = await runWorld(context, 'fan-max', fanOutSteps, { stepConfig: { fetch: { handlerConfig: { items: ['a', 'a', 'b', 'b', 'c', 'd'].map((id) => ({ id })) } } }, maxItems: 3 });
    const parentId = await run(world);
    await jobReaches(context, world.tenantId, parentId, ['completed']);
    expect((await childrenOf(parentId)).map((child) => child.item_key)).toEqual(['a', 'b', 'c']);
    // The next run takes what is left: one item, run in the job itself.
    const next = await jobReaches(context, world.tenantId, await run(world), ['completed']);
    expect({ children: next.children_total, data: next.engine_data }).toMatchObject({ children: 0, data: { item: { sourceKey: 'd' } } });
    expect(await published(world)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('derives a failed parent with the count of failed children; the failed item is released for a later run', async () => {
    const world = await runWorld(context, 'fan-fail', fanOutSteps, { stepConfig: itemsConfig(['a', 'bad-1', 'c', 'bad-2']), maxItems: 10 });
    const parentId = await run(world);
    const parent = await jobReaches(context, world.tenantId, parentId, ['completed', 'failed']);
    expect({ status: parent.status, reason: parent.status_reason }).toEqual({ status: 'failed', reason: 'children_failed:2' });
    expect(await published(world)).toEqual(['a', 'c']);
    const claims = await database.db.selectFrom('dm_processed_items').select('source_key').where('flow_id', '=', world.flowId).orderBy('source_key').execute();
    expect(claims.map((claim) => claim.source_key)).toEqual(['a', 'c']);
  });
});
