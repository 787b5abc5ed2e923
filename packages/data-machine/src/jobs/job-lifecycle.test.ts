import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { claimItems, releaseItems } from '../items/processed-items';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { agentWithFlow, asEngine, type EngineWorld } from '../../test/support/engine-fixture';
import { jobLogsInsert } from '../logs/job-log';
import { createChildJobs, createJob, recordJobProgress, transitionJob, transitionUnheldJob, type RunStatement } from './job-lifecycle';

await describeEachDatabase<DataMachineDatabase>('job lifecycle', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const create = (world: EngineWorld, idempotencyKey?: string) =>
    asEngine(context, world.tenant.id, (trx) => createJob(context, trx, { flowId: world.flowId, source: 'manual', idempotencyKey: idempotencyKey ?? null }));
  const start = (world: EngineWorld, jobId: string, engineJobId = 'boss-1') =>
    asEngine(context, world.tenant.id, (trx) => transitionJob(context, trx, jobId, { to: 'processing', engineJobId }));

  describe('creating', () => {
    it('creates a pending job of the flow, with the flow agent and pipeline', async () => {
      const world = await agentWithFlow(context, 'job-create');
      const { job, created } = await create(world);
      expect(created).toBe(true);
      expect(job).toMatchObject({ status: 'pending', statusReason: null, agentId: world.agentId, flowId: world.flowId, pipelineId: world.pipelineId, attempts: 0 });
    });

    it('returns the existing job for a repeated idempotency key, even when the creates race', async () => {
      const world = await agentWithFlow(context, 'job-idem');
      const outcomes = await Promise.all([create(world, 'tick-1'), create(world, 'tick-1'), create(world, 'tick-1')]);
      expect(new Set(outcomes.map((outcome) => outcome.job.id)).size).toBe(1);
      expect(outcomes.filter((outcome) => outcome.created)).toHaveLength(1);
      const rows = await database.db.selectFrom('dm_jobs').select('id').where('flow_id', '=', world.flowId).execute();
      expect(rows).toHaveLength(1);
    });

    it('refuses a flow the tenant does not have', async () => {
      const world = await agentWithFlow(context, 'job-noflow');
      const other = await agentWithFlow(context, 'job-noflow-other');
      expect(await codeOf(asEngine(context, world.tenant.id, (trx) => createJob(context, trx, { flowId: other.flowId, source: 'manual' })))).toBe('flow.not_found');
    });
  });

  describe('status transitions', () => {
    it('starts a pending job: started_at, one more attempt, the engine job that owns it', async () => {
      const world = await agentWithFlow(context, 'job-start');
      const { job } = await create(world);
      const moved = await start(world, job.id, 'boss-a');
      expect(moved?.job).toMatchObject({ status: 'processing', attempts: 1, engineJobId: 'boss-a', startedAt: context.now() });
    });

    it('lets pg-boss re-deliver the job it owns as a new attempt, and finds another engine job stale', async () => {
      const world = await agentWithFlow(context, 'job-redeliver');
      const { job } = await create(world);
      await start(world, job.id, 'boss-a');
      expect((await start(world, job.id, 'boss-a'))?.job.attempts).toBe(2);
      expect(await start(world, job.id, 'boss-b')).toBeNull();
    });

    it('keeps status and reason apart, and a failure has a code and a message', async () => {
      const world = await agentWithFlow(context, 'job-fail');
      const { job } = await create(world);
      await start(world, job.id);
      const failed = await asEngine(context, world.tenant.id, (trx) =>
        transitionJob(context, trx, job.id, { to: 'failed', reason: 'lost_worker', error: { code: 'engine.lost_worker', message: 'The worker died.' } }),
      );
      expect(failed?.job).toMatchObject({ status: 'failed', statusReason: 'lost_worker', error: { code: 'engine.lost_worker', message: 'The worker died.' }, finishedAt: context.now() });
    });

    it('never moves an ended job: a stale move resolves null and changes nothing', async () => {
      const world = await agentWithFlow(context, 'job-stale');
      const { job } = await create(world);
      await start(world, job.id);
      await asEngine(context, world.tenant.id, (trx) => transitionJob(context, trx, job.id, { to: 'completed' }));
      expect(await asEngine(context, world.tenant.id, (trx) => transitionJob(context, trx, job.id, { to: 'failed', error: { code: 'x', message: 'late' } }))).toBeNull();
      expect(await start(world, job.id)).toBeNull();
      const row = await database.db.selectFrom('dm_jobs').select(['status', 'error_code']).where('id', '=', job.id).executeTakeFirstOrThrow();
      expect(row).toEqual({ status: 'completed', error_code: null });
    });

    it('refuses moves the table does not allow (pending straight to completed)', async () => {
      const world = await agentWithFlow(context, 'job-skipstep');
      const { job } = await create(world);
      expect(await asEngine(context, world.tenant.id, (trx) => transitionJob(context, trx, job.id, { to: 'completed' }))).toBeNull();
      expect(await asEngine(context, world.tenant.id, (trx) => transitionJob(context, trx, job.id, { to: 'skipped', reason: 'already_running' }))).toMatchObject({
        job: { status: 'skipped', statusReason: 'already_running' },
      });
    });

    it('waits and resumes without counting a new attempt', async () => {
      const world = await agentWithFlow(context, 'job-wait');
      const { job } = await create(world);
      await start(world, job.id);
      await asEngine(context, world.tenant.id, (trx) => transitionJob(context, trx, job.id, { to: 'waiting', reason: 'webhook' }));
      const resumed = await start(world, job.id, 'boss-2');
      expect(resumed?.job).toMatchObject({ status: 'processing', attempts: 1, engineJobId: 'boss-2', statusReason: null });
    });

    it('applies a fenced move only while the named engine job owns the job', async () => {
      const world = await agentWithFlow(context, 'job-fence');
      const { job } = await create(world);
      await start(world, job.id, 'boss-a');
      const fenced = (engineJobId: string) => asEngine(context, world.tenant.id, (trx) => transitionJob(context, trx, job.id, { to: 'completed' }, { engineJobId }));
      expect(await fenced('boss-old')).toBeNull();
      expect(await asEngine(context, world.tenant.id, (trx) => recordJobProgress(trx, job.id, { currentStep: 'ai' }, { engineJobId: 'boss-old' }))).toBe(false);
      expect(await asEngine(context, world.tenant.id, (trx) => recordJobProgress(trx, job.id, { currentStep: 'ai', engineData: { item: 1 } }, { engineJobId: 'boss-a' }))).toBe(true);
      expect((await fenced('boss-a'))?.job).toMatchObject({ status: 'completed', currentStep: 'ai', engineData: { item: 1 } });
    });
  });

  describe('ending a job that holds nothing, in one statement', () => {
    const inTransaction =
      (trx: Parameters<Parameters<typeof asEngine>[2]>[0]): RunStatement =>
      async (query) =>
        (await trx.executeQuery(query)).rows;
    const endAlone = (world: EngineWorld, jobId: string, engineJobId = 'boss-1', attempt = 1) =>
      asEngine(context, world.tenant.id, (trx) =>
        transitionUnheldJob(context, inTransaction(trx), jobId, { to: 'completed' }, { engineJobId, attempt, progress: { engineData: { outputs: { last: 1 } } }, logLines: jobLogsInsert(context, jobId, [{ level: 'info', message: 'job completed' }]) }),
      );
    const logCount = async (jobId: string) => (await database.db.selectFrom('dm_job_logs').select('id').where('job_id', '=', jobId).execute()).length;

    it('moves it, writes its last progress and its log lines', async () => {
      const world = await agentWithFlow(context, 'alone-end');
      const { job } = await create(world);
      await start(world, job.id);
      expect(await endAlone(world, job.id)).toMatchObject({ status: 'completed', engineData: { outputs: { last: 1 } }, finishedAt: context.now() });
      expect(await logCount(job.id)).toBe(1);
    });

    it('is fenced: another engine job or attempt moves nothing and writes no line', async () => {
      const world = await agentWithFlow(context, 'alone-fence');
      const { job } = await create(world);
      await start(world, job.id);
      expect(await endAlone(world, job.id, 'boss-old')).toBeNull();
      expect(await endAlone(world, job.id, 'boss-1', 2)).toBeNull();
      expect(await logCount(job.id)).toBe(0);
      const row = await database.db.selectFrom('dm_jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow();
      expect(row.status).toBe('processing');
    });

    it('leaves a job that holds a claimed item, or has a parent, to the full end (nothing moved, no line)', async () => {
      const world = await agentWithFlow(context, 'alone-holds');
      const { job } = await create(world);
      await start(world, job.id);
      await asEngine(context, world.tenant.id, (trx) => claimItems(context, trx, { flowId: world.flowId, stepKey: 'fetch', jobId: job.id, sourceKeys: ['held'], max: 1 }));
      expect(await endAlone(world, job.id)).toBeNull();
      const { job: parent } = await create(world);
      await start(world, parent.id);
      const [child] = await asEngine(context, world.tenant.id, (trx) => createChildJobs(context, trx, parent.id, [{ itemKey: 'child' }]));
      await start(world, child!.id);
      expect(await endAlone(world, child!.id)).toBeNull();
      expect((await logCount(job.id)) + (await logCount(child!.id))).toBe(0);
    });
  });

  describe('fan-out', () => {
    const fanOut = async (world: EngineWorld, count: number, batchSize?: number) => {
      const { job: parent } = await create(world);
      await start(world, parent.id);
      const items = Array.from({ length: count }, (_, index) => ({ itemKey: `item-${index}`, engineData: { index } }));
      const children = await asEngine(context, world.tenant.id, async (trx) => {
        const created = await createChildJobs(context, trx, parent.id, items, batchSize === undefined ? {} : { batchSize });
        await transitionJob(context, trx, parent.id, { to: 'waiting', reason: 'children' });
        return created;
      });
      return { parent, children };
    };
    const end = (world: EngineWorld, jobId: string, failed: boolean) =>
      asEngine(context, world.tenant.id, async (trx) => {
        await transitionJob(context, trx, jobId, { to: 'processing', engineJobId: `boss-${jobId}` });
        return transitionJob(context, trx, jobId, failed ? { to: 'failed', error: { code: 'step.failed', message: 'no' } } : { to: 'completed' });
      });

    it('creates the children in batches and counts them on the parent; a repeat creates none twice', async () => {
      const world = await agentWithFlow(context, 'fan-create');
      const { parent, children } = await fanOut(world, 7, 3);
      expect(children.map((child) => child.itemKey)).toEqual(Array.from({ length: 7 }, (_, index) => `item-${index}`));
      expect(children.every((child) => child.parentJobId === parent.id && child.status === 'pending')).toBe(true);
      const again = await asEngine(context, world.tenant.id, (trx) => createChildJobs(context, trx, parent.id, [{ itemKey: 'item-0' }, { itemKey: 'item-7' }]));
      expect(again.map((child) => child.itemKey)).toEqual(['item-7']);
      const row = await database.db.selectFrom('dm_jobs').select('children_total').where('id', '=', parent.id).executeTakeFirstOrThrow();
      expect(row.children_total).toBe(8);
    });

    it('completes the parent when its last child ends, exactly once, with concurrent enders', async () => {
      const world = await agentWithFlow(context, 'fan-race');
      const { parent, children } = await fanOut(world, 12);
      const outcomes = await Promise.all(children.map((child) => end(world, child.id, false)));
      const enders = outcomes.filter((outcome) => outcome?.endedParent !== null);
      expect(enders).toHaveLength(1);
      expect(enders[0]?.endedParent).toMatchObject({ id: parent.id, status: 'completed', statusReason: null, children: { total: 12, ended: 12, failed: 0 } });
    });

    it('fails the parent with the count of failed children as its reason', async () => {
      const world = await agentWithFlow(context, 'fan-fail');
      const { parent, children } = await fanOut(world, 6);
      await Promise.all(children.map((child, index) => end(world, child.id, index % 3 === 0)));
      const row = await database.db.selectFrom('dm_jobs').select(['status', 'status_reason', 'children_ended', 'children_failed']).where('id', '=', parent.id).executeTakeFirstOrThrow();
      expect(row).toEqual({ status: 'failed', status_reason: 'children_failed:2', children_ended: 6, children_failed: 2 });
    });

    it('keeps the parent waiting while a child has not ended', async () => {
      const world = await agentWithFlow(context, 'fan-wait');
      const { parent, children } = await fanOut(world, 3);
      await end(world, children[0]!.id, false);
      await end(world, children[1]!.id, true);
      const row = await database.db.selectFrom('dm_jobs').select(['status', 'children_ended']).where('id', '=', parent.id).executeTakeFirstOrThrow();
      expect(row).toEqual({ status: 'waiting', children_ended: 2 });
    });

    it("hands each item's claim to its child, so a failed child releases only its item", async () => {
      const world = await agentWithFlow(context, 'fan-claims');
      const { job: parent } = await create(world);
      await start(world, parent.id);
      const children = await asEngine(context, world.tenant.id, async (trx) => {
        await claimItems(context, trx, { flowId: world.flowId, stepKey: 'fetch', jobId: parent.id, sourceKeys: ['a', 'b'], max: 2 });
        return createChildJobs(context, trx, parent.id, [{ itemKey: 'a' }, { itemKey: 'b' }]);
      });
      expect(await asEngine(context, world.tenant.id, (trx) => releaseItems(trx, { jobId: children[0]!.id }))).toBe(1);
      const left = await database.db.selectFrom('dm_processed_items').select(['source_key', 'job_id']).where('flow_id', '=', world.flowId).execute();
      expect(left).toEqual([{ source_key: 'b', job_id: children[1]!.id }]);
    });
  });
});
