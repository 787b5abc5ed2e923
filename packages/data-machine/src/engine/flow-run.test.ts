import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { inTenant } from '../scope/tenant-transaction';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn } from '../../test/support/job-engine-fixture';
import { itemsConfig, runWorld } from '../../test/support/flow-run-fixture';
import { cancelJob } from '../jobs/job-repository';
import { createJob } from '../jobs/job-lifecycle';
import { retryJob, runFlowNow, startFlowRun, startFlowRunIn } from './flow-run';
import { engineQueues, installJobEngine, type JobEngine } from './job-engine';

await describeEachDatabase<DataMachineDatabase>('starting a flow run', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    engine = engineOn(database);
    await engine.start();
  });
  afterAll(async () => {
    await engine.stop();
  });

  const bossJobsOf = async (jobId: string) =>
    (await sql<{ id: string }>`select id from pgboss.job where name = ${engineQueues.job} and data->>'jobId' = ${jobId}`.execute(database.db)).rows;
  const jobsOfFlow = (flowId: string) => database.db.selectFrom('dm_jobs').select('id').where('flow_id', '=', flowId).execute();

  it('writes a pending job and enqueues exactly one pg-boss job for it', async () => {
    const world = await runWorld(context, 'run-start', undefined, { stepConfig: itemsConfig(['a']) });
    const { job, created } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    expect({ created, status: job.status }).toEqual({ created: true, status: 'pending' });
    expect(await bossJobsOf(job.id)).toHaveLength(1);
  });

  it('honours the idempotency key: a repeated start returns the first job and enqueues nothing', async () => {
    const world = await runWorld(context, 'run-idem', undefined, { stepConfig: itemsConfig(['a']) });
    const first = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'schedule', idempotencyKey: 'tick-1' });
    const second = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'schedule', idempotencyKey: 'tick-1' });
    expect({ same: second.job.id === first.job.id, created: second.created }).toEqual({ same: true, created: false });
    expect(await bossJobsOf(first.job.id)).toHaveLength(1);
  });

  it('leaves no job row when enqueueing fails (engine.unavailable)', async () => {
    const world = await runWorld(context, 'run-noboss', undefined, { stepConfig: itemsConfig(['a']) });
    // An engine whose pg-boss schema does not exist: its insert fails inside the transaction.
    const broken = engineOn(database, { schema: 'no_such_boss' });
    expect(await codeOf(startFlowRun(context, broken, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' }))).toBe('engine.unavailable');
    expect(await jobsOfFlow(world.flowId)).toEqual([]);
  });

  it('leaves no pg-boss job when the transaction that wrote the row rolls back', async () => {
    const world = await runWorld(context, 'run-rollback', undefined, { stepConfig: itemsConfig(['a']) });
    let jobId = '';
    await expect(
      inTenant(context, world.tenantId, null, async (trx) => {
        jobId = (await startFlowRunIn(context, engine, trx, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' })).job.id;
        throw new Error('the caller failed after both halves');
      }),
    ).rejects.toThrow('the caller failed');
    expect(jobId).not.toBe('');
    expect({ rows: await jobsOfFlow(world.flowId), boss: await bossJobsOf(jobId) }).toEqual({ rows: [], boss: [] });
  });

  it('refuses a flow of another tenant (flow.not_found) and enqueues nothing', async () => {
    const world = await runWorld(context, 'run-other', undefined, { stepConfig: itemsConfig(['a']) });
    const other = await runWorld(context, 'run-other-b', undefined, { stepConfig: itemsConfig(['a']) });
    const before = (await sql<{ n: number }>`select count(*)::int as n from pgboss.job`.execute(database.db)).rows[0]?.n;
    expect(await codeOf(startFlowRun(context, engine, { tenantId: world.tenantId, flowId: other.flowId, source: 'manual' }))).toBe('flow.not_found');
    expect((await sql<{ n: number }>`select count(*)::int as n from pgboss.job`.execute(database.db)).rows[0]?.n).toBe(before);
  });

  it('installs idempotently: a second install changes nothing', async () => {
    await installJobEngine(database.db);
    const queues = await sql<{ name: string }>`select name from pgboss.queue order by name`.execute(database.db);
    expect(queues.rows.map((row) => row.name)).toEqual(Object.values(engineQueues).sort());
  });
  it('runs a flow now for an operator, as that user; the same idempotency key returns the same job', async () => {
    const world = await runWorld(context, 'run-now', undefined, { stepConfig: itemsConfig(['a']) });
    const first = await runFlowNow(context, engine, world.operator, 'bot', 'main', { idempotencyKey: 'click-1' });
    const second = await runFlowNow(context, engine, world.operator, 'bot', 'main', { idempotencyKey: 'click-1' });
    expect({ created: first.created, source: first.job.source, by: first.job.createdBy, status: first.job.status }).toEqual({ created: true, source: 'manual', by: world.userIds.operator, status: 'pending' });
    expect({ same: second.job.id === first.job.id, created: second.created }).toEqual({ same: true, created: false });
    expect(await bossJobsOf(first.job.id)).toHaveLength(1);
  });

  it('denies running a flow to a viewer (access.denied) and writes no job', async () => {
    const world = await runWorld(context, 'run-now-viewer', undefined, { stepConfig: itemsConfig(['a']) });
    expect(await codeOf(runFlowNow(context, engine, world.viewer, 'bot', 'main'))).toBe('access.denied');
    expect(await jobsOfFlow(world.flowId)).toEqual([]);
  });

  it('answers a missing flow with flow.not_found', async () => {
    const world = await runWorld(context, 'run-now-missing', undefined, { stepConfig: itemsConfig(['a']) });
    expect(await codeOf(runFlowNow(context, engine, world.operator, 'bot', 'nope'))).toBe('flow.not_found');
  });

  it('retries a cancelled job as a new job (source retry); retrying it again returns that job', async () => {
    const world = await runWorld(context, 'run-retry', undefined, { stepConfig: itemsConfig(['a']) });
    const { job } = await runFlowNow(context, engine, world.operator, 'bot', 'main');
    await cancelJob(context, world.operator, 'bot', job.id);
    const retried = await retryJob(context, engine, world.operator, 'bot', job.id);
    const again = await retryJob(context, engine, world.operator, 'bot', job.id);
    expect({ created: retried.created, source: retried.job.source, status: retried.job.status, fresh: retried.job.id !== job.id }).toEqual({ created: true, source: 'retry', status: 'pending', fresh: true });
    expect({ same: again.job.id === retried.job.id, created: again.created }).toEqual({ same: true, created: false });
    expect(await bossJobsOf(retried.job.id)).toHaveLength(1);
  });

  it('refuses to retry a job that has not failed nor been cancelled (job.not_retryable)', async () => {
    const world = await runWorld(context, 'run-retry-live', undefined, { stepConfig: itemsConfig(['a']) });
    const { job } = await runFlowNow(context, engine, world.operator, 'bot', 'main');
    expect(await codeOf(retryJob(context, engine, world.operator, 'bot', job.id))).toBe('job.not_retryable');
    expect(await codeOf(retryJob(context, engine, world.viewer, 'bot', job.id))).toBe('access.denied');
  });

  it('retries a job on its item, claimed for the retry; an item another job holds is not run twice (job.not_retryable)', async () => {
    const world = await runWorld(context, 'run-retry-item', undefined, { stepConfig: itemsConfig(['a']) });
    const withItem = () =>
      inTenant(context, world.tenantId, null, (trx) => createJob(context, trx, { flowId: world.flowId, source: 'manual', engineData: { item: { sourceKey: 'a', data: { id: 'a' } }, outputs: {} } }));
    const [first, second] = [(await withItem()).job, (await withItem()).job];
    await cancelJob(context, world.operator, 'bot', first.id);
    await cancelJob(context, world.operator, 'bot', second.id);
    const retried = await retryJob(context, engine, world.operator, 'bot', first.id);
    expect(retried.job.engineData).toEqual({ item: { sourceKey: 'a', data: { id: 'a' } }, outputs: {} });
    expect(await codeOf(retryJob(context, engine, world.operator, 'bot', second.id))).toBe('job.not_retryable');
  });
});
