import { describeEachDatabase } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { addToQueue, listQueue } from '../queues/queue-repository';
import type { PipelineStepInput, Step, StepContext } from '../steps/step';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { jobReaches, engineOn, runningWorker } from '../../test/support/job-engine-fixture';
import { itemsConfig, runWorld, type RunWorld } from '../../test/support/flow-run-fixture';
import { builtInHandlers } from '../../test/support/pipeline-fixture';
import { startFlowRun } from './flow-run';
import type { JobEngine } from './job-engine';

/** fetch -> upsert, where the upsert is the scripted step below. */
const scriptedSteps: readonly PipelineStepInput[] = [
  { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
  { key: 'push', type: 'upsert', handler: 'records', config: { collection: 'out' } },
];

await describeEachDatabase<DataMachineDatabase>('job worker', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let stop: () => Promise<void>;
  // What the scripted upsert step does, per flow: throw, or return an output.
  const scripts = new Map<string, (context: StepContext) => Promise<unknown>>();
  const scripted: Step = {
    type: 'upsert',
    async execute(input, stepContext) {
      const script = scripts.get(stepContext.flowId);
      return { kind: 'output', output: script ? await script(stepContext) : input.value };
    },
  };

  // An ai step's stand-in: outputs the prompt it was handed as its input, and counts its runs per flow.
  const aiRuns = new Map<string, number>();
  const promptEcho: Step = {
    type: 'ai',
    retrySafe: true,
    execute: async (input, stepContext) => {
      aiRuns.set(stepContext.flowId, (aiRuns.get(stepContext.flowId) ?? 0) + 1);
      return { kind: 'output', output: { prompt: input.prompt ?? null } };
    },
  };

  beforeAll(async () => {
    context = await migratedContext(database.db);
    engine = engineOn(database);
    ({ stop } = await runningWorker(context, engine, builtInHandlers(context), { upsert: scripted, ai: promptEcho }, {
      retry: { upsert: { maxAttempts: 3, backoffMs: () => 0 } },
    }));
  });
  afterAll(async () => {
    await stop();
  });

  const run = async (world: RunWorld) => (await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' })).job.id;
  const records = (world: RunWorld) => database.db.selectFrom('dm_records').select(['body', 'idempotency_key']).where('flow_id', '=', world.flowId).execute();
  const items = (world: RunWorld) => database.db.selectFrom('dm_processed_items').select(['source_key', 'status']).where('flow_id', '=', world.flowId).orderBy('source_key').execute();
  const endStatuses = ['completed', 'completed_no_items', 'failed', 'cancelled'] as const;

  describe('a single item', () => {
    it('runs fetch then publish: the job completes, the record is written once, the item is done', async () => {
      const world = await runWorld(context, 'worker-one', undefined, { stepConfig: itemsConfig(['a']) });
      const jobId = await run(world);
      const job = await jobReaches(context, world.tenantId, jobId, endStatuses);
      expect({ status: job.status, reason: job.status_reason, attempts: job.attempts, step: job.current_step }).toEqual({ status: 'completed', reason: null, attempts: 1, step: 'store' });
      expect(await records(world)).toEqual([{ body: { id: 'a', title: 'item a' }, idempotency_key: `publish:${jobId}:store` }]);
      expect(await items(world)).toEqual([{ source_key: 'a', status: 'done' }]);
      expect(job.engine_data).toMatchObject({ item: { sourceKey: 'a' }, outputs: { store: { created: true } } });
    });

    it('never publishes the same item twice: the next run finds nothing new (completed_no_items)', async () => {
      const world = await runWorld(context, 'worker-dedupe', undefined, { stepConfig: itemsConfig(['a']) });
      await jobReaches(context, world.tenantId, await run(world), ['completed']);
      const second = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect({ status: second.status, reason: second.status_reason }).toEqual({ status: 'completed_no_items', reason: 'no_new_items' });
      expect(await records(world)).toHaveLength(1);
    });

    it('writes what the job did to its log', async () => {
      const world = await runWorld(context, 'worker-log', undefined, { stepConfig: itemsConfig(['a']) });
      const jobId = await run(world);
      await jobReaches(context, world.tenantId, jobId, ['completed']);
      const lines = await database.db.selectFrom('dm_job_logs').select(['level', 'message']).where('job_id', '=', jobId).orderBy('id').execute();
      expect(lines.map((line) => line.message)).toEqual(['step started', 'items fetched', 'step started', 'step completed', 'job completed']);
    });
  });

  describe('queues', () => {
    it('ends a job whose drain queue is empty completed_no_items, and runs nothing', async () => {
      const world = await runWorld(context, 'worker-drain-empty', undefined, { stepConfig: { ...itemsConfig(['a']), fetch: { ...itemsConfig(['a']).fetch, queues: { config_patch: 'drain' } } } });
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect({ status: job.status, reason: job.status_reason }).toEqual({ status: 'completed_no_items', reason: 'queue_empty' });
      expect(await records(world)).toEqual([]);
    });

    it('merges a drained config patch into the fetch for one run and consumes it on success', async () => {
      const world = await runWorld(context, 'worker-drain', undefined, { stepConfig: { fetch: { ...itemsConfig(['a']).fetch, queues: { config_patch: 'drain' } } } });
      const address = { flow: 'main', stepKey: 'fetch', queue: 'config_patch' as const };
      await addToQueue(context, world.operator, 'bot', address, { items: [{ id: 'patched', title: 'from the queue' }] });
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect(job.status).toBe('completed');
      expect(await records(world)).toEqual([{ body: { id: 'patched', title: 'from the queue' }, idempotency_key: `publish:${job.id}:store` }]);
      expect((await listQueue(context, world.operator, 'bot', address)).length).toBe(0);
    });

    it('hands an ai step the prompt queue entry it took as its input prompt', async () => {
      const promptSteps: readonly PipelineStepInput[] = [
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
        { key: 'think', type: 'ai' },
      ];
      const world = await runWorld(context, 'worker-prompt', promptSteps, { stepConfig: itemsConfig(['a']) });
      await addToQueue(context, world.operator, 'bot', { flow: 'main', stepKey: 'think', queue: 'prompt' }, 'Summarize the item.');
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect({ status: job.status, output: (job.engine_data as { outputs: Record<string, unknown> }).outputs.think }).toEqual({ status: 'completed', output: { prompt: 'Summarize the item.' } });
    });

    it('gives a drained entry back where it was when the job fails', async () => {
      const world = await runWorld(context, 'worker-drain-fail', scriptedSteps, { stepConfig: { fetch: { ...itemsConfig(['a']).fetch, queues: { config_patch: 'drain' } } } });
      scripts.set(world.flowId, () => Promise.reject(new DataMachineError('access.denied', 'the target refused')));
      const address = { flow: 'main', stepKey: 'fetch', queue: 'config_patch' as const };
      await addToQueue(context, world.operator, 'bot', address, { keyField: 'id' });
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect(job.status).toBe('failed');
      const entries = await listQueue(context, world.operator, 'bot', address);
      expect(entries.map((entry) => ({ leased: entry.leasedByJobId, position: entry.position }))).toEqual([{ leased: null, position: 1 }]);
    });
  });

  describe('failures and retries', () => {
    /** The scripted step times out on its first call and pushes on the next; resolves how many calls it had. */
    const failOnceThenPush = (world: RunWorld): (() => number) => {
      let calls = 0;
      scripts.set(world.flowId, async () => {
        calls += 1;
        if (calls === 1) throw new Error('the target timed out');
        return { pushed: true };
      });
      return () => calls;
    };

    it('retries a failing step with its backoff and completes on a later attempt', async () => {
      const world = await runWorld(context, 'worker-retry', scriptedSteps, { stepConfig: itemsConfig(['a']) });
      const calls = failOnceThenPush(world);
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect({ status: job.status, attempts: job.attempts, calls: calls(), error: job.error_code }).toEqual({ status: 'completed', attempts: 2, calls: 2, error: 'step.failed' });
      expect(await items(world)).toEqual([{ source_key: 'a', status: 'done' }]);
    });

    it("resumes a retried job at the failed step: the step before it, whose output rode on the failed step's preparation, does not run again", async () => {
      const steps: readonly PipelineStepInput[] = [scriptedSteps[0] as PipelineStepInput, { key: 'think', type: 'ai' }, scriptedSteps[1] as PipelineStepInput];
      const world = await runWorld(context, 'worker-resume', steps, { stepConfig: itemsConfig(['a']) });
      const calls = failOnceThenPush(world);
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect({ status: job.status, attempts: job.attempts, pushCalls: calls(), thinkRuns: aiRuns.get(world.flowId) }).toEqual({ status: 'completed', attempts: 2, pushCalls: 2, thinkRuns: 1 });
      expect((job.engine_data as { outputs: Record<string, unknown> }).outputs).toMatchObject({ think: { prompt: null }, push: { pushed: true } });
    });

    it('does not retry a permanent error (forbidden): failed at once, the item released', async () => {
      const world = await runWorld(context, 'worker-permanent', scriptedSteps, { stepConfig: itemsConfig(['a']) });
      let calls = 0;
      scripts.set(world.flowId, () => {
        calls += 1;
        return Promise.reject(new DataMachineError('access.denied', 'the target refused'));
      });
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect({ status: job.status, reason: job.status_reason, attempts: job.attempts, calls, error: job.error_code }).toEqual({
        status: 'failed',
        reason: 'permanent_error',
        attempts: 1,
        calls: 1,
        error: 'access.denied',
      });
      // Released: a later run takes the item again.
      expect(await items(world)).toEqual([]);
    });

    it('fails the job when the step type has no attempts left (retries_exhausted)', async () => {
      const world = await runWorld(context, 'worker-exhausted', scriptedSteps, { stepConfig: itemsConfig(['a']) });
      scripts.set(world.flowId, () => Promise.reject(new Error('still down')));
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect({ status: job.status, reason: job.status_reason, attempts: job.attempts, message: job.error_message }).toEqual({
        status: 'failed',
        reason: 'retries_exhausted',
        attempts: 3,
        message: 'still down',
      });
    });

    it('fails a job whose step type no implementation serves (step.not_registered), without retrying', async () => {
      const world = await runWorld(context, 'worker-noai', [...scriptedSteps.slice(0, 1), { key: 'gate', type: 'webhook_gate' }], { stepConfig: itemsConfig(['a']) });
      const job = await jobReaches(context, world.tenantId, await run(world), endStatuses);
      expect({ status: job.status, reason: job.status_reason, error: job.error_code, attempts: job.attempts }).toEqual({
        status: 'failed',
        reason: 'permanent_error',
        error: 'step.not_registered',
        attempts: 1,
      });
    });
  });
});
