import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import type { PipelineStepInput, Step } from '../steps/step';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { itemsConfig, runWorld } from '../../test/support/flow-run-fixture';
import { builtInHandlers } from '../../test/support/pipeline-fixture';
import { startFlowRun } from './flow-run';
import { engineQueues, type JobEngine } from './job-engine';
import { reconcileJobs } from './job-reconciler';

const heldSteps: readonly PipelineStepInput[] = [
  { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
  { key: 'hold', type: 'upsert', handler: 'records', config: { collection: 'out' } },
];

await describeEachDatabase<DataMachineDatabase>('job liveness', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let stop: () => Promise<void>;
  // The held step runs until its flow's gate opens, telling the test it started.
  const gates = new Map<string, { started: () => void; release: Promise<void> }>();
  const held: Step = {
    type: 'upsert',
    retrySafe: true,
    async execute(input, step) {
      const gate = gates.get(step.flowId);
      if (gate) {
        gate.started();
        await gate.release;
      }
      return { kind: 'output', output: input.value };
    },
  };

  beforeAll(async () => {
    context = await migratedContext(database.db);
    // No re-delivery by pg-boss: a failed pg-boss job stays failed, for the reconciler to find.
    engine = engineOn(database, { redeliveries: 0 });
    ({ stop } = await runningWorker(context, engine, builtInHandlers(context), { upsert: held }, { retry: { upsert: { maxAttempts: 2, backoffMs: () => 0 } } }));
  });
  afterAll(async () => {
    await stop();
  });

  /** Processing jobs that no live pg-boss job owns: the invariant says there are none. */
  const unowned = async () =>
    (
      await sql<{ id: string }>`
        select j.id from dm_jobs j
        where j.status = 'processing'
          and not exists (select 1 from pgboss.job b where b.name = ${engineQueues.job} and b.id::text = j.engine_job_id and b.state in ('created', 'retry', 'active'))`.execute(database.db)
    ).rows;

  /** Starts a run of a held flow and resolves once its held step is running. */
  const heldRun = async (slug: string) => {
    const world = await runWorld(context, slug, heldSteps, { stepConfig: itemsConfig(['a']) });
    let release: () => void = () => undefined;
    const started = new Promise<void>((resolve) => gates.set(world.flowId, { started: resolve, release: new Promise<void>((open) => (release = open)) }));
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    await started;
    const running = await jobReaches(context, world.tenantId, job.id, ['processing']);
    return { world, jobId: job.id, engineJobId: running.engine_job_id as string, release };
  };

  it('holds while a job runs: its processing job is owned by its active pg-boss job, and the reconciler leaves it', async () => {
    const { world, jobId, release } = await heldRun('live-owned');
    expect(await unowned()).toEqual([]);
    expect(await reconcileJobs({ context, engine })).toMatchObject({ retried: 0, failed: 0 });
    release();
    expect((await jobReaches(context, world.tenantId, jobId, ['completed'])).status).toBe('completed');
  });

  it('gives a job whose pg-boss job failed (its worker vanished) another attempt, which completes', async () => {
    const { world, jobId, engineJobId, release } = await heldRun('live-retry');
    await engine.boss.fail(engineQueues.job, engineJobId);
    expect(await unowned()).toEqual([{ id: jobId }]);
    const report = await reconcileJobs({ context, engine, retry: { upsert: { maxAttempts: 2, backoffMs: () => 0 } } });
    expect(report.retried).toBe(1);
    // The old execution's step finishes late: its writes are fenced off, the retry completes the job.
    release();
    const job = await jobReaches(context, world.tenantId, jobId, ['completed', 'failed']);
    expect({ status: job.status, attempts: job.attempts }).toEqual({ status: 'completed', attempts: 2 });
    expect(await unowned()).toEqual([]);
  });

  it('fails a lost job with reason lost_worker when it has no attempt left, and releases its item', async () => {
    const { world, jobId, engineJobId, release } = await heldRun('live-lost');
    await engine.boss.deleteJob(engineQueues.job, engineJobId);
    const report = await reconcileJobs({ context, engine, retry: { upsert: { maxAttempts: 1, backoffMs: () => 0 } } });
    expect(report.failed).toBe(1);
    const job = await jobReaches(context, world.tenantId, jobId, ['failed']);
    expect({ reason: job.status_reason, error: job.error_code }).toEqual({ reason: 'lost_worker', error: 'engine.lost_worker' });
    release();
    expect(await database.db.selectFrom('dm_processed_items').select('source_key').where('flow_id', '=', world.flowId).execute()).toEqual([]);
    expect(await database.db.selectFrom('dm_records').select('id').where('flow_id', '=', world.flowId).execute()).toEqual([]);
    expect(await unowned()).toEqual([]);
  });
});
