import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import type { PipelineStepInput, Step } from '../steps/step';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { runWorld } from '../../test/support/flow-run-fixture';
import { builtInHandlers } from '../../test/support/pipeline-fixture';
import { startFlowRun } from './flow-run';

const slowSteps: readonly PipelineStepInput[] = [{ key: 'slow', type: 'upsert', handler: 'records', config: { collection: 'out' } }];

await describeEachDatabase<DataMachineDatabase>('job worker shutdown', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  /** A step that runs until `finish` is called or its signal aborts; `started` resolves when it runs. */
  function slowStep() {
    let started: () => void = () => undefined;
    let finish: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    const done = new Promise<void>((resolve) => (finish = resolve));
    const step: Step = {
      type: 'upsert',
      retrySafe: true,
      async execute(input, stepContext) {
        started();
        await new Promise<void>((resolve, reject) => {
          void done.then(resolve);
          stepContext.signal.addEventListener('abort', () => reject(new Error('aborted by shutdown')), { once: true });
        });
        return { kind: 'output', output: input.value };
      },
    };
    return { step, running, finish };
  }

  it('lets a running step finish within the grace period, then stops', async () => {
    const world = await runWorld(context, 'shutdown-finish', slowSteps);
    const slow = slowStep();
    const running = await runningWorker(context, engineOn(database), builtInHandlers(context), { upsert: slow.step }, { shutdownGraceMs: 10_000 });
    const { job } = await startFlowRun(context, running.engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    await slow.running;
    const stopped = running.stop();
    slow.finish();
    await stopped;
    expect((await jobReaches(context, world.tenantId, job.id, ['completed', 'pending', 'failed'])).status).toBe('completed');
  });

  it('aborts a step that outlives the grace period: its job is released for another attempt, which another worker completes', async () => {
    const world = await runWorld(context, 'shutdown-release', slowSteps);
    const slow = slowStep();
    const first = await runningWorker(context, engineOn(database), builtInHandlers(context), { upsert: slow.step }, { shutdownGraceMs: 50, retry: { upsert: { maxAttempts: 2, backoffMs: () => 0 } } });
    const { job } = await startFlowRun(context, first.engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    await slow.running;
    await first.stop();
    const released = await jobReaches(context, world.tenantId, job.id, ['pending', 'completed', 'failed']);
    expect({ status: released.status, reason: released.status_reason, message: released.error_message }).toEqual({ status: 'pending', reason: 'retrying', message: 'aborted by shutdown' });
    const quick: Step = { type: 'upsert', retrySafe: true, execute: async (input) => ({ kind: 'output', output: input.value }) };
    const second = await runningWorker(context, engineOn(database), builtInHandlers(context), { upsert: quick });
    try {
      expect((await jobReaches(context, world.tenantId, job.id, ['completed', 'failed'])).attempts).toBe(2);
    } finally {
      await second.stop();
    }
  });
});
