import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import { afterEach, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createJob, transitionJob, type JobChange } from '../jobs/job-lifecycle';
import { createScheduler } from '../schedules/scheduler';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { agentWithFlow, asEngine, type EngineWorld } from '../../test/support/engine-fixture';
import { jobRowStarter, recordingLogger, resetScheduling } from '../../test/support/scheduler-fixture';
import { createRetentionTask } from './retention-sweep';

const day = 24 * 60 * 60 * 1000;
const today = new Date('2026-11-30T12:00:00.000Z');
const daysAgo = (days: number) => new Date(today.getTime() - days * day);

await describeEachDatabase<DataMachineDatabase>('retention sweep', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });
  afterEach(async () => {
    await resetScheduling(database.db, { flows: false });
    context.setNow(today);
  });

  async function jobAt(world: EngineWorld, at: Date, changes: readonly JobChange[]): Promise<string> {
    context.setNow(at);
    const jobId = await asEngine(context, world.tenant.id, async (trx) => {
      const { job } = await createJob(context, trx, { flowId: world.flowId, source: 'schedule' });
      for (const change of changes) await transitionJob(context, trx, job.id, change);
      return job.id;
    });
    context.setNow(today);
    return jobId;
  }
  const exists = async (jobId: string) => (await database.db.selectFrom('dm_jobs').select('id').where('id', '=', jobId).executeTakeFirst()) !== undefined;
  const running: JobChange = { to: 'processing', engineJobId: 'boss' };

  function schedulerWith(holder: string, everyMs: number) {
    const logger = recordingLogger();
    const transcripts = createPostgresTranscriptStore({ db: database.database.db, now: () => context.now() });
    const scheduler = createScheduler({ context, starter: jobRowStarter(context).start, logger, holder, leaseMs: 1, systemTasks: [createRetentionTask({ everyMs, transcripts })] });
    return { scheduler, logger, transcripts };
  }

  it('runs from the scheduler on its interval, deletes what is due, keeps a running job, and logs what it removed', async () => {
    const world = await agentWithFlow(context, 'sweep-due');
    const ended = await jobAt(world, daysAgo(40), [running, { to: 'completed' }]);
    const live = await jobAt(world, daysAgo(40), [running]);
    const { scheduler, logger, transcripts } = schedulerWith('sweeper', 6 * 60 * 60 * 1000);
    const owner = { userId: world.owner.id, tenantId: world.tenant.id };
    context.setNow(daysAgo(100));
    await transcripts.createSession(owner, { agentSlug: 'default' });
    context.setNow(today);

    expect((await scheduler.tick(today)).tasks).toEqual(['retention']);
    expect([await exists(ended), await exists(live)]).toEqual([false, true]);
    const [line] = logger.lines.filter((logged) => logged.entry.task === 'retention');
    expect(line?.level).toBe('info');
    expect(line?.entry.tenants).toContainEqual({ tenantId: world.tenant.id, deleted: { jobs: 1, failedJobs: 0, logs: 0, processedItems: 0, transcripts: 1 }, unfinished: [] });

    expect((await scheduler.tick(new Date(today.getTime() + 60 * 60 * 1000))).tasks).toEqual([]);
    expect((await scheduler.tick(new Date(today.getTime() + 6 * 60 * 60 * 1000))).tasks).toEqual(['retention']);
    await scheduler.stop();
  });

  it('runs once per interval however many schedulers tick', async () => {
    const first = schedulerWith('first', 60 * 60 * 1000);
    const second = schedulerWith('second', 60 * 60 * 1000);
    const reports = await Promise.all([first.scheduler.tick(today), second.scheduler.tick(today), first.scheduler.tick(today), second.scheduler.tick(today)]);
    expect(reports.flatMap((report) => report.tasks)).toEqual(['retention']);
    await Promise.all([first.scheduler.stop(), second.scheduler.stop()]);
  });

  it('logs a failed sweep and runs it again at its next time', async () => {
    const logger = recordingLogger();
    let calls = 0;
    const failing = {
      name: 'retention',
      everyMs: 60_000,
      run: async () => {
        calls += 1;
        throw new Error('disk on fire');
      },
    };
    const scheduler = createScheduler({ context, starter: jobRowStarter(context).start, logger, holder: 'failing', systemTasks: [failing] });
    expect((await scheduler.tick(today)).tasks).toEqual([]);
    expect(logger.lines.map((line) => [line.level, line.entry.task])).toEqual([['error', 'retention']]);
    await scheduler.tick(new Date(today.getTime() + 60_000));
    expect(calls).toBe(2);
    await scheduler.stop();
  });
});
