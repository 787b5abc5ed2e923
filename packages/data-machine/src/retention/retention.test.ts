import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { claimItems, markItemsDone } from '../items/processed-items';
import { createChildJobs, createJob, transitionJob, type JobChange } from '../jobs/job-lifecycle';
import { writeJobLog } from '../logs/job-log';
import { codeOf, migratedContext, scopeOf, type TestContext } from '../../test/support/identity-fixture';
import { agentWithFlow, asEngine, type EngineWorld } from '../../test/support/engine-fixture';
import { defaultRetention, getRetention, runRetention, runTenantRetention, updateRetention } from './retention';

const day = 24 * 60 * 60 * 1000;
const today = new Date('2026-11-30T12:00:00.000Z');
const daysAgo = (days: number) => new Date(today.getTime() - days * day);

await describeEachDatabase<DataMachineDatabase>('retention', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  /** A job created and moved through `changes` at `at`, with one log line. */
  async function jobAt(world: EngineWorld, at: Date, changes: readonly JobChange[]): Promise<string> {
    context.setNow(at);
    try {
      return await asEngine(context, world.tenant.id, async (trx) => {
        const { job } = await createJob(context, trx, { flowId: world.flowId, source: 'schedule' });
        for (const change of changes) await transitionJob(context, trx, job.id, change);
        await writeJobLog(context, trx, { jobId: job.id, level: 'info', message: 'ran' });
        return job.id;
      });
    } finally {
      context.setNow(today);
    }
  }
  const start: JobChange = { to: 'processing', engineJobId: 'boss' };
  const complete: readonly JobChange[] = [start, { to: 'completed' }];
  const fail: readonly JobChange[] = [start, { to: 'failed', error: { code: 'step.failed', message: 'no' } }];
  const exists = async (jobId: string) => (await database.db.selectFrom('dm_jobs').select('id').where('id', '=', jobId).executeTakeFirst()) !== undefined;
  const logsOf = async (jobId: string) => (await database.db.selectFrom('dm_job_logs').select('id').where('job_id', '=', jobId).execute()).length;

  describe('by the default windows', () => {
    it('deletes ended jobs after 30 days and keeps younger ones and every job that has not ended, with its logs', async () => {
      const world = await agentWithFlow(context, 'ret-jobs');
      const old = await jobAt(world, daysAgo(31), complete);
      const oldFailed = await jobAt(world, daysAgo(31), fail);
      const young = await jobAt(world, daysAgo(29), complete);
      const running = await jobAt(world, daysAgo(90), [start]);
      const report = await runTenantRetention(context, world.tenant.id);
      expect(report.deleted).toMatchObject({ jobs: 1, failedJobs: 1 });
      expect(await Promise.all([old, oldFailed, young, running].map(exists))).toEqual([false, false, true, true]);
      expect(await logsOf(running)).toBe(1);
    });

    it('deletes log lines after 7 days, never those of a job that has not ended', async () => {
      const world = await agentWithFlow(context, 'ret-logs');
      const ended = await jobAt(world, daysAgo(8), complete);
      const running = await jobAt(world, daysAgo(8), [start]);
      const fresh = await jobAt(world, daysAgo(6), complete);
      const report = await runTenantRetention(context, world.tenant.id);
      expect(report.deleted.logs).toBe(1);
      expect([await logsOf(ended), await logsOf(running), await logsOf(fresh)]).toEqual([0, 1, 1]);
    });

    it('forgets done items after 30 days and keeps claimed ones', async () => {
      const world = await agentWithFlow(context, 'ret-items');
      const job = await jobAt(world, daysAgo(40), []);
      context.setNow(daysAgo(40));
      await asEngine(context, world.tenant.id, async (trx) => {
        await claimItems(context, trx, { flowId: world.flowId, stepKey: 'fetch', jobId: job, sourceKeys: ['done', 'claimed'], max: 2 });
        await markItemsDone(context, trx, { flowId: world.flowId, stepKey: 'fetch', sourceKeys: ['done'] });
        await transitionJob(context, trx, job, { to: 'skipped', reason: 'already_running' });
      });
      context.setNow(today);
      const report = await runTenantRetention(context, world.tenant.id);
      expect(report.deleted.processedItems).toBe(1);
      const left = await database.db.selectFrom('dm_processed_items').select('source_key').where('flow_id', '=', world.flowId).execute();
      expect(left).toEqual([{ source_key: 'claimed' }]);
    });

    it('keeps an ended child while its fan-out parent has not ended', async () => {
      const world = await agentWithFlow(context, 'ret-fanout');
      context.setNow(daysAgo(60));
      const child = await asEngine(context, world.tenant.id, async (trx) => {
        const { job: parent } = await createJob(context, trx, { flowId: world.flowId, source: 'manual' });
        await transitionJob(context, trx, parent.id, start);
        const [created] = await createChildJobs(context, trx, parent.id, [{ itemKey: 'a' }, { itemKey: 'b' }]);
        await transitionJob(context, trx, parent.id, { to: 'waiting', reason: 'children' });
        await transitionJob(context, trx, created!.id, start);
        await transitionJob(context, trx, created!.id, { to: 'completed' });
        return created!.id;
      });
      context.setNow(today);
      await runTenantRetention(context, world.tenant.id);
      expect(await exists(child)).toBe(true);
    });

    it('deletes chat transcripts after 90 days through the transcript store', async () => {
      const world = await agentWithFlow(context, 'ret-chat');
      const store = createPostgresTranscriptStore({ db: database.database.db, now: () => context.now() });
      const owner = { userId: world.owner.id, tenantId: world.tenant.id };
      context.setNow(daysAgo(91));
      await store.createSession(owner, { agentSlug: 'default' });
      context.setNow(daysAgo(10));
      const kept = await store.createSession(owner, { agentSlug: 'default' });
      context.setNow(today);
      const report = await runTenantRetention(context, world.tenant.id, { transcripts: store });
      expect(report.deleted.transcripts).toBe(1);
      expect((await store.listSessions(owner)).sessions.map((session) => session.id)).toEqual([kept.id]);
    });
  });

  describe('capped batches', () => {
    it('deletes in batches, stops at the cap and says what it left for the next run', async () => {
      const world = await agentWithFlow(context, 'ret-cap');
      for (let index = 0; index < 5; index += 1) await jobAt(world, daysAgo(40), complete);
      const capped = await runTenantRetention(context, world.tenant.id, { batchSize: 2, maxBatchesPerKind: 2 });
      expect(capped.deleted.jobs).toBe(4);
      expect(capped.unfinished).toContain('jobs');
      const rest = await runTenantRetention(context, world.tenant.id, { batchSize: 2, maxBatchesPerKind: 2 });
      expect(rest.deleted.jobs).toBe(1);
      expect(rest.unfinished).toEqual([]);
    });

    it('runs every tenant and totals the counts', async () => {
      const world = await agentWithFlow(context, 'ret-all');
      await jobAt(world, daysAgo(40), complete);
      const report = await runRetention(context);
      expect(report.tenants.find((tenant) => tenant.tenantId === world.tenant.id)?.deleted.jobs).toBe(1);
      expect(report.totals.jobs).toBeGreaterThanOrEqual(1);
    });
  });

  describe("a tenant's own windows", () => {
    it('keeps failed jobs as long as the tenant says, and goes back to the default on null', async () => {
      const world = await agentWithFlow(context, 'ret-override');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      expect(await updateRetention(context, scope, { failedJobs: 60, logs: 3 })).toEqual({ ...defaultRetention, failedJobs: 60, logs: 3 });
      const failed = await jobAt(world, daysAgo(45), fail);
      const report = await runTenantRetention(context, world.tenant.id);
      expect(report.windows.failedJobs).toBe(60);
      expect(await exists(failed)).toBe(true);
      expect(await updateRetention(context, scope, { failedJobs: null })).toEqual({ ...defaultRetention, logs: 3 });
      await runTenantRetention(context, world.tenant.id);
      expect(await exists(failed)).toBe(false);
    });

    it('refuses a bad window, and a member who may not manage the tenant', async () => {
      const world = await agentWithFlow(context, 'ret-refuse', ['editor']);
      const owner = await scopeOf(context, world.owner.id, world.tenant.id);
      expect(await codeOf(updateRetention(context, owner, { logs: 0 }))).toBe('input.invalid');
      expect(await codeOf(updateRetention(context, owner, { forever: 1 } as never))).toBe('input.invalid');
      const editor = await scopeOf(context, world.members.editor!.id, world.tenant.id);
      expect(await codeOf(updateRetention(context, editor, { logs: 1 }))).toBe('access.denied');
      expect(await codeOf(getRetention(context, editor))).toBe('access.denied');
      expect(await getRetention(context, owner)).toEqual(defaultRetention);
    });
  });
});
