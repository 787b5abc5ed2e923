import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { inTenant } from '../scope/tenant-transaction';
import type { PipelineStepInput } from '../steps/step';
import { createWebhookGateStep } from '../steps/webhook-gate/webhook-gate-step';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, eventually, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { itemsConfig, runWorld, type RunWorld } from '../../test/support/flow-run-fixture';
import { builtInHandlers } from '../../test/support/pipeline-fixture';
import { startFlowRun } from './flow-run';
import type { JobEngine } from './job-engine';
import { signalJob } from './job-signals';

/** fetch -> wait for a webhook -> store what the webhook carried. */
const gatedSteps = (timeoutSeconds: number): readonly PipelineStepInput[] => [
  { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
  { key: 'gate', type: 'webhook_gate', config: { timeoutSeconds } },
  { key: 'store', type: 'publish', handler: 'records', config: { collection: 'out' } },
];

await describeEachDatabase<DataMachineDatabase>('signal waits (webhook gate)', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    context = await migratedContext(database.db);
    engine = engineOn(database);
    ({ stop } = await runningWorker(context, engine, builtInHandlers(context), { webhook_gate: createWebhookGateStep() }));
  });
  afterAll(async () => {
    await stop();
  });

  const gatedJob = async (slug: string, timeoutSeconds = 3600): Promise<{ world: RunWorld; jobId: string }> => {
    const world = await runWorld(context, slug, gatedSteps(timeoutSeconds), { stepConfig: itemsConfig(['a']) });
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    await jobReaches(context, world.tenantId, job.id, ['waiting']);
    return { world, jobId: job.id };
  };
  const release = (world: RunWorld, jobId: string, payload: unknown, signal = 'webhook') =>
    inTenant(context, world.tenantId, null, (trx) => signalJob(context, engine, trx, { jobId, signal, payload }));
  const codeOf = async (work: Promise<unknown>): Promise<string> => {
    try {
      await work;
      return 'resolved';
    } catch (error) {
      return DataMachineError.isInstance(error) ? error.code : String(error);
    }
  };
  const records = (world: RunWorld) => database.db.selectFrom('dm_records').select('body').where('flow_id', '=', world.flowId).execute();
  /** pg-boss deliveries of the job not yet done (a release, a deadline's wake-up). */
  const openDeliveries = async (jobId: string): Promise<number> => {
    const { rows } = await sql<{ open: number }>`select count(*)::int as open from pgboss.job where data->>'jobId' = ${jobId} and state in ('created', 'retry', 'active')`.execute(database.db);
    return rows[0]?.open ?? 0;
  };

  describe('waiting', () => {
    it('parks the job in waiting (reason signal) at the gate, with the wait in its engine data', async () => {
      const { world, jobId } = await gatedJob('signal-park');
      const job = await jobReaches(context, world.tenantId, jobId, ['waiting']);
      expect({ status: job.status, reason: job.status_reason, step: job.current_step }).toEqual({ status: 'waiting', reason: 'signal', step: 'gate' });
      expect(job.engine_data).toMatchObject({ waiting: { step: 'gate', signal: 'webhook' }, outputs: {} });
      expect(await records(world)).toEqual([]);
    });
  });

  describe('release', () => {
    it('resumes the job at the gate: the payload is the gate output, the next steps run, the job completes', async () => {
      const { world, jobId } = await gatedJob('signal-release');
      await release(world, jobId, { approved: 'by webhook' });
      const job = await jobReaches(context, world.tenantId, jobId, ['completed', 'failed']);
      expect({ status: job.status, attempts: job.attempts }).toEqual({ status: 'completed', attempts: 1 });
      expect(job.engine_data).toMatchObject({ outputs: { gate: { approved: 'by webhook' } } });
      expect(job.engine_data).not.toHaveProperty('waiting');
      expect(job.engine_data).not.toHaveProperty('released');
      expect(await records(world)).toEqual([{ body: { approved: 'by webhook' } }]);
    });

    it('is single-use: a second release of the same wait is job.not_waiting and changes nothing', async () => {
      const { world, jobId } = await gatedJob('signal-once');
      await release(world, jobId, { n: 1 });
      expect(await codeOf(release(world, jobId, { n: 2 }))).toBe('job.not_waiting');
      await jobReaches(context, world.tenantId, jobId, ['completed']);
      expect(await records(world)).toEqual([{ body: { n: 1 } }]);
    });

    it('of two concurrent releases, exactly one wins', async () => {
      const { world, jobId } = await gatedJob('signal-race');
      const codes = await Promise.all([codeOf(release(world, jobId, { n: 1 })), codeOf(release(world, jobId, { n: 2 }))]);
      expect(codes.sort()).toEqual(['job.not_waiting', 'resolved']);
      await jobReaches(context, world.tenantId, jobId, ['completed']);
      expect(await records(world)).toHaveLength(1);
    });

    it('refuses a signal the job is not waiting for, and a job that does not exist', async () => {
      const { world, jobId } = await gatedJob('signal-wrong');
      expect(await codeOf(release(world, jobId, {}, 'approval:x'))).toBe('job.not_waiting');
      expect(await codeOf(release(world, '00000000-0000-4000-8000-000000000000', {}))).toBe('job.not_found');
      const job = await jobReaches(context, world.tenantId, jobId, ['waiting']);
      expect(job.status_reason).toBe('signal');
    });

    it('is all or nothing with the caller: a transaction that rolls back releases nothing', async () => {
      const { world, jobId } = await gatedJob('signal-rollback');
      const aborted = inTenant(context, world.tenantId, null, async (trx) => {
        await signalJob(context, engine, trx, { jobId, signal: 'webhook', payload: {} });
        throw new Error('the caller failed after the release');
      });
      await expect(aborted).rejects.toThrow('the caller failed');
      const job = await jobReaches(context, world.tenantId, jobId, ['waiting']);
      expect(job.engine_data).toMatchObject({ waiting: { signal: 'webhook' } });
      expect(await openDeliveries(jobId)).toBe(1);
    });
  });

  describe('deadline', () => {
    it('fails the job with webhook_gate.timed_out when no release comes in time, and a late release is refused', async () => {
      const { world, jobId } = await gatedJob('signal-timeout', 1);
      const job = await jobReaches(context, world.tenantId, jobId, ['failed', 'completed']);
      expect({ status: job.status, reason: job.status_reason, code: job.error_code }).toEqual({ status: 'failed', reason: 'permanent_error', code: 'webhook_gate.timed_out' });
      expect(await codeOf(release(world, jobId, {}))).toBe('job.not_waiting');
      expect(await records(world)).toEqual([]);
    });

    it('wakes only its own wait: a released wait\'s deadline does not wake the job in its next wait', async () => {
      const steps: readonly PipelineStepInput[] = [
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
        { key: 'first', type: 'webhook_gate', config: { timeoutSeconds: 1 } },
        { key: 'store', type: 'publish', handler: 'records', config: { collection: 'out' } },
        { key: 'second', type: 'webhook_gate', config: { timeoutSeconds: 3600 } },
        { key: 'again', type: 'publish', handler: 'records', config: { collection: 'again' } },
      ];
      const world = await runWorld(context, 'signal-own-wake', steps, { stepConfig: itemsConfig(['a']) });
      const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
      await jobReaches(context, world.tenantId, job.id, ['waiting']);
      await release(world, job.id, { early: true });
      await eventually(async () => (await jobReaches(context, world.tenantId, job.id, ['waiting', 'processing', 'pending'])).current_step === 'second', () => 'the job did not reach the second gate');
      // Left open: the second gate's own deadline, an hour away. Done: the release, and the first gate's wake-up.
      await eventually(async () => (await openDeliveries(job.id)) === 1, () => 'the first deadline wake-up is still pending');
      const waiting = await jobReaches(context, world.tenantId, job.id, ['waiting', 'failed', 'completed']);
      expect({ status: waiting.status, reason: waiting.status_reason, step: waiting.current_step, error: waiting.error_code }).toEqual({ status: 'waiting', reason: 'signal', step: 'second', error: null });
      expect(await records(world)).toEqual([{ body: { early: true } }]);
    });
  });
});
