import { randomUUID } from 'node:crypto';
import { describeEachDatabase } from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import type { PipelineStepInput, Step } from '../steps/step';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn } from '../../test/support/job-engine-fixture';
import { runWorld } from '../../test/support/flow-run-fixture';
import { builtInHandlers } from '../../test/support/pipeline-fixture';
import { inTenant } from '../scope/tenant-transaction';
import { startFlowRun } from './flow-run';
import { engineQueues, installJobEngine, type EngineMessage, type JobEngine } from './job-engine';
import { fetchDeliveries, foldedFetch } from './job-fetch';
import { executeJob, type DeliveryCompletion, type JobExecutorOptions } from './job-executor';

const noopSteps: readonly PipelineStepInput[] = [{ key: 'noop', type: 'upsert', handler: 'records', config: { collection: 'out' } }];

await describeEachDatabase<DataMachineDatabase>('the worker fetch that starts a job', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let options: JobExecutorOptions;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    await installJobEngine(database.db);
    engine = engineOn(database);
    await engine.start();
    options = { context, engine, steps: {}, handlers: builtInHandlers(context) };
  });
  afterAll(async () => {
    await engine.stop();
  });

  const jobRow = (tenantId: string, jobId: string) =>
    inTenant(context, tenantId, null, (trx) => trx.selectFrom('dm_jobs').select(['status', 'engine_job_id', 'attempts']).where('id', '=', jobId).executeTakeFirstOrThrow());
  const bossState = async (id: string) => (await engine.boss.getJobById(engineQueues.job, id))?.state;
  /** Fetches until the queue is empty (other tests' jobs included), returning every delivery. */
  const fetchAll = async () => {
    const all = [];
    for (let batch = await fetchDeliveries(options, 8); batch.length > 0; batch = await fetchDeliveries(options, 8)) all.push(...batch);
    return all;
  };

  it('folds pg-boss fetch as this pg-boss version writes it (an upgrade that changes its shape fails here, not silently)', async () => {
    expect(await foldedFetch(engine, 8)).not.toBeNull();
  });

  it('starts the first fetched job in its own round trip: processing under the pg-boss job that fetched it, now active', async () => {
    await fetchAll();
    const world = await runWorld(context, 'fold-one', noopSteps);
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'api' });
    const [delivery, ...rest] = await fetchDeliveries(options, 8);
    expect(rest).toEqual([]);
    expect(delivery?.data).toEqual({ tenantId: world.tenantId, jobId: job.id });
    expect(delivery?.started?.job).toMatchObject({ id: job.id, status: 'processing', engineJobId: delivery?.id, attempts: 1 });
    expect(delivery?.started?.steps).toEqual([expect.objectContaining({ key: 'noop' })]);
    expect(await jobRow(world.tenantId, job.id)).toEqual({ status: 'processing', engine_job_id: delivery?.id, attempts: 1 });
    expect(await bossState(delivery?.id as string)).toBe('active');
  });

  it('leaves the other jobs of a batch to the executor: fetched (active) but not started', async () => {
    await fetchAll();
    const world = await runWorld(context, 'fold-many', noopSteps);
    const other = await runWorld(context, 'fold-other', noopSteps);
    const first = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'api' });
    const second = await startFlowRun(context, engine, { tenantId: other.tenantId, flowId: other.flowId, source: 'api' });
    const deliveries = await fetchDeliveries(options, 8);
    expect(deliveries.map((delivery) => delivery.data.jobId).sort()).toEqual([first.job.id, second.job.id].sort());
    const [started, notTried] = deliveries as [(typeof deliveries)[number], (typeof deliveries)[number]];
    expect(started.started?.job.id).toBe(started.data.jobId);
    expect(notTried.started).toBeUndefined();
    expect((await jobRow(notTried.data.tenantId, notTried.data.jobId)).status).toBe('pending');
    expect(await bossState(notTried.id)).toBe('active');
  });

  it('starts nothing for a stale delivery (its job ended meanwhile), and says so', async () => {
    await fetchAll();
    const world = await runWorld(context, 'fold-stale', noopSteps);
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'api' });
    await inTenant(context, world.tenantId, null, (trx) => trx.updateTable('dm_jobs').set({ status: 'cancelled', finished_at: new Date() }).where('id', '=', job.id).execute());
    const [delivery] = await fetchDeliveries(options, 8);
    expect(delivery?.data.jobId).toBe(job.id);
    expect(delivery?.started).toBeNull();
    expect((await jobRow(world.tenantId, job.id)).status).toBe('cancelled');
  });

  it("starts no job under a delivery whose message names another tenant than the job's", async () => {
    await fetchAll();
    const world = await runWorld(context, 'fold-tenant', noopSteps);
    const other = await runWorld(context, 'fold-tenant-other', noopSteps);
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'api' });
    await fetchAll();
    // A forged message: the other tenant's keys must not reach this tenant's job.
    await engine.boss.send(engineQueues.job, { tenantId: other.tenantId, jobId: job.id });
    const [delivery] = await fetchDeliveries(options, 8);
    expect(delivery?.started).toBeNull();
    expect((await jobRow(world.tenantId, job.id)).status).toBe('processing');
    expect((await jobRow(world.tenantId, job.id)).attempts).toBe(1);
  });

  it("writes each fetch's own time as the job's start (its statement is compiled once and reused)", async () => {
    await fetchAll();
    const world = await runWorld(context, 'fold-time', noopSteps);
    const startedAt = [];
    for (const at of ['2026-12-02T08:00:00.000Z', '2026-12-02T09:30:00.000Z']) {
      context.setNow(new Date(at));
      await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'api' });
      const [delivery] = await fetchDeliveries(options, 8);
      startedAt.push(delivery?.started?.job.startedAt?.toISOString());
    }
    expect(startedAt).toEqual(['2026-12-02T08:00:00.000Z', '2026-12-02T09:30:00.000Z']);
  });

  it('completes the delivery of a job that ends alone with its end, and says so: the worker does not complete it again', async () => {
    await fetchAll();
    const world = await runWorld(context, 'fold-complete', noopSteps);
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'api' });
    const [delivery] = await fetchDeliveries(options, 8);
    const completion: DeliveryCompletion = { completed: false };
    const noop: Step = { type: 'upsert', retrySafe: true, execute: async () => ({ kind: 'output', output: 'done' }) };
    const outcome = await executeJob({ ...options, steps: { upsert: noop } }, delivery?.data as EngineMessage, delivery?.id as string, new AbortController().signal, delivery?.started, completion);
    expect(outcome).toBe('completed');
    expect(completion.completed).toBe(true);
    expect((await jobRow(world.tenantId, job.id)).status).toBe('completed');
    expect(await bossState(delivery?.id as string)).toBe('completed');
  });

  it('leaves the delivery to the worker when its end did not apply (another delivery took the job meanwhile): nothing completed, nothing ended', async () => {
    await fetchAll();
    const world = await runWorld(context, 'fold-taken', noopSteps);
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'api' });
    const [delivery] = await fetchDeliveries(options, 8);
    const completion: DeliveryCompletion = { completed: false };
    const other = randomUUID();
    // While the step runs, a re-delivery takes the job over (as after this delivery's expiry).
    const takenOver: Step = {
      type: 'upsert',
      retrySafe: true,
      execute: async () => {
        await database.db.updateTable('dm_jobs').set({ engine_job_id: other }).where('id', '=', job.id).execute();
        return { kind: 'output', output: 'done' };
      },
    };
    const outcome = await executeJob({ ...options, steps: { upsert: takenOver } }, delivery?.data as EngineMessage, delivery?.id as string, new AbortController().signal, delivery?.started, completion);
    expect(outcome).toBe('stale');
    expect(completion.completed).toBe(false);
    expect(await jobRow(world.tenantId, job.id)).toMatchObject({ status: 'processing', engine_job_id: other });
    expect(await bossState(delivery?.id as string)).toBe('active');
  });

  it('fetches nothing from an empty queue, and starts nothing', async () => {
    await fetchAll();
    expect(await fetchDeliveries(options, 8)).toEqual([]);
  });
});
