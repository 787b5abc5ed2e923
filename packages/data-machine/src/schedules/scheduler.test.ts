import { describeEachDatabase } from '@data-machine/testkit';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createFlow, pauseFlow, resumeFlow, updateFlow, type Flow, type NewFlow } from '../flows/flow-repository';
import { createJob } from '../jobs/job-lifecycle';
import { createPipeline } from '../pipelines/pipeline-repository';
import { inTenant } from '../scope/tenant-transaction';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { digestStepConfig, digestSteps, flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import { jobRowStarter, recordingLogger, resetScheduling } from '../../test/support/scheduler-fixture';
import { scheduleIdempotencyKey } from './due-flows';
import { createScheduler, type SchedulerOptions } from './scheduler';

const hour = 60 * 60 * 1000;
const start = new Date('2026-12-01T10:00:00.000Z');
const later = (from: Date, ms: number) => new Date(from.getTime() + ms);

await describeEachDatabase<DataMachineDatabase>('scheduler', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });
  afterEach(() => resetScheduling(database.db, { flows: true }));

  // Two tenants, each with its members, agent and pipeline, made once: the tests only read them, and
  // what they make (flows, their jobs, leases) is forgotten after each test. A world per test was a
  // third of the file's time. One world per hook: each is some twenty writes.
  let home: FlowWorld;
  let away: FlowWorld;
  beforeAll(async () => {
    home = await newWorld('sched-home');
  });
  beforeAll(async () => {
    away = await newWorld('sched-away');
  });

  async function newWorld(slug: string): Promise<FlowWorld> {
    context.setNow(start);
    const created = await flowWorld(context, slug);
    await createPipeline(context, created.admin, created.handlers, 'bot', { slug: 'digest', name: 'Digest', steps: digestSteps });
    return created;
  }

  /** The suite's tenants (`home`, then `away`), the clock back at `start`. */
  function worlds(): [FlowWorld, FlowWorld] {
    context.setNow(start);
    return [home, away];
  }
  const world = (): FlowWorld => worlds()[0];

  function flow(on: FlowWorld, slug: string, overrides: Partial<NewFlow> = {}): Promise<Flow> {
    context.setNow(start);
    return createFlow(context, on.admin, on.handlers, 'bot', {
      pipeline: 'digest',
      slug,
      name: slug,
      stepConfig: digestStepConfig,
      schedule: { kind: 'interval', every: 'hourly' },
      ...overrides,
    });
  }

  function scheduler(options: Partial<SchedulerOptions> = {}) {
    const starter = jobRowStarter(context);
    const logger = recordingLogger();
    const instance = createScheduler({ context, starter: starter.start, logger, ...options });
    return { instance, starter, logger };
  }

  const jobsOf = (flowId: string) =>
    database.db.selectFrom('dm_jobs').select(['tenant_id', 'agent_id', 'status', 'status_reason', 'idempotency_key', 'source']).where('flow_id', '=', flowId).orderBy('created_at').execute();
  const nextRunOf = async (flowId: string) => (await database.db.selectFrom('dm_flows').select('next_run_at').where('id', '=', flowId).executeTakeFirstOrThrow()).next_run_at;

  describe('next run of a flow', () => {
    it('is its first tick when created, null while paused, and the next future tick on resume (no replay)', async () => {
      const on = world();
      const created = await flow(on, 'hourly');
      expect(created.nextRunAt!.getTime()).toBeGreaterThan(start.getTime());
      expect(created.nextRunAt!.getTime()).toBeLessThanOrEqual(start.getTime() + hour);
      expect((await pauseFlow(context, on.operator, 'bot', 'hourly')).nextRunAt).toBeNull();
      context.setNow(later(start, 5 * hour));
      const resumed = await resumeFlow(context, on.operator, 'bot', 'hourly');
      expect(resumed.nextRunAt!.getTime()).toBeGreaterThan(later(start, 5 * hour).getTime());
      expect(resumed.nextRunAt!.getTime() - created.nextRunAt!.getTime()).toBe(5 * hour);
    });

    it('follows a schedule change: the new first tick, none for manual, none while paused', async () => {
      const on = world();
      await flow(on, 'changing', { schedule: { kind: 'manual' } });
      const change = (schedule: NewFlow['schedule']) => updateFlow(context, on.admin, on.handlers, 'bot', 'changing', { schedule });
      expect((await change({ kind: 'cron', expression: '0 9 * * *', timeZone: 'Europe/Paris' })).nextRunAt).toEqual(new Date('2026-12-02T08:00:00.000Z'));
      expect((await change({ kind: 'manual' })).nextRunAt).toBeNull();
      await pauseFlow(context, on.operator, 'bot', 'changing');
      expect((await change({ kind: 'interval', every: 'daily' })).nextRunAt).toBeNull();
      expect(await codeOf(change({ kind: 'cron', expression: '0 0 9 * * *' }))).toBe('flow.invalid_config');
    });

    it('is none for a manual flow and for a flow created paused', async () => {
      const on = world();
      expect((await flow(on, 'manual', { schedule: { kind: 'manual' } })).nextRunAt).toBeNull();
      expect((await flow(on, 'paused', { paused: true })).nextRunAt).toBeNull();
    });

    it('refuses a cron expression it cannot read, writing nothing', async () => {
      const on = world();
      expect(await codeOf(flow(on, 'bad', { schedule: { kind: 'cron', expression: '0 25 * * *' } }))).toBe('flow.invalid_config');
      expect(await database.db.selectFrom('dm_flows').select('id').where('agent_id', '=', on.agent.id).execute()).toEqual([]);
    });
  });

  describe('a tick', () => {
    it('starts a due flow once in its own tenant and agent, under the key of its tick, and moves to the next tick', async () => {
      const on = world();
      const hourly = await flow(on, 'hourly');
      const { instance, starter } = scheduler();
      const tick = hourly.nextRunAt!;
      expect(await instance.tick(later(tick, -1))).toMatchObject({ leader: true, started: 0 });
      expect(await instance.tick(later(tick, 1000))).toMatchObject({ leader: true, started: 1 });
      expect(starter.requests.filter((request) => request.flowId === hourly.id)).toEqual([
        { tenantId: on.tenant.id, agentId: on.agent.id, flowId: hourly.id, source: 'schedule', idempotencyKey: scheduleIdempotencyKey(hourly.id, tick), scheduledFor: tick },
      ]);
      expect(await jobsOf(hourly.id)).toEqual([
        { tenant_id: on.tenant.id, agent_id: on.agent.id, status: 'pending', status_reason: null, idempotency_key: `schedule:${hourly.id}:${tick.toISOString()}`, source: 'schedule' },
      ]);
      expect(await nextRunOf(hourly.id)).toEqual(later(tick, hour));
      await instance.stop();
    });

    it('starts every flow of tenant A under tenant A and agent A only, beside tenant B', async () => {
      const [a, b] = worlds();
      const [flowA, flowB] = [await flow(a, 'hourly'), await flow(b, 'hourly')];
      const { instance, starter } = scheduler();
      await instance.tick(later(start, hour + 1000));
      await instance.stop();
      const byFlow = new Map(starter.requests.map((request) => [request.flowId, request]));
      expect(byFlow.get(flowA.id)).toMatchObject({ tenantId: a.tenant.id, agentId: a.agent.id });
      expect(byFlow.get(flowB.id)).toMatchObject({ tenantId: b.tenant.id, agentId: b.agent.id });
      expect((await jobsOf(flowA.id)).map((job) => [job.tenant_id, job.agent_id])).toEqual([[a.tenant.id, a.agent.id]]);
      expect((await jobsOf(flowB.id)).map((job) => [job.tenant_id, job.agent_id])).toEqual([[b.tenant.id, b.agent.id]]);
    });

    it("refuses to start tenant A's flow inside tenant B (the starter's tenant must be the flow's)", async () => {
      const [a, b] = worlds();
      const flowA = await flow(a, 'hourly');
      const crossed = inTenant(context, b.tenant.id, null, (trx) => createJob(context, trx, { flowId: flowA.id, source: 'schedule', idempotencyKey: 'schedule:x' }));
      expect(await codeOf(crossed)).toBe('flow.not_found');
      expect(await jobsOf(flowA.id)).toEqual([]);
    });

    it('records a tick while the previous job is live as skipped with reason already_running', async () => {
      const on = world();
      const busy = await flow(on, 'hourly');
      await inTenant(context, on.tenant.id, null, (trx) => createJob(context, trx, { flowId: busy.id, source: 'manual' }));
      const { instance, starter } = scheduler();
      expect(await instance.tick(later(busy.nextRunAt!, 1000))).toMatchObject({ started: 0, skipped: 1 });
      await instance.stop();
      expect(starter.requests).toEqual([]);
      expect((await jobsOf(busy.id)).map((job) => [job.status, job.status_reason]).sort()).toEqual([
        ['pending', null],
        ['skipped', 'already_running'],
      ]);
      expect(await nextRunOf(busy.id)).toEqual(later(busy.nextRunAt!, hour));
    });

    it('starts a tick beside a live job when the flow allows concurrency', async () => {
      const on = world();
      const wide = await flow(on, 'hourly', { concurrency: 2 });
      await inTenant(context, on.tenant.id, null, (trx) => createJob(context, trx, { flowId: wide.id, source: 'manual' }));
      const { instance } = scheduler();
      expect(await instance.tick(later(wide.nextRunAt!, 1000))).toMatchObject({ started: 1, skipped: 0 });
      await instance.stop();
    });

    it('gives many missed ticks one catch-up run, or none with catch-up none, and moves past now', async () => {
      const on = world();
      const once = await flow(on, 'once');
      const none = await flow(on, 'none', { schedule: { kind: 'interval', every: 'hourly', catchUp: 'none' } });
      const now = later(start, 6 * hour + 1000);
      const { instance } = scheduler();
      await instance.tick(now);
      await instance.stop();
      expect((await jobsOf(once.id)).length).toBe(1);
      expect(await jobsOf(none.id)).toEqual([]);
      for (const flowId of [once.id, none.id]) {
        const next = (await nextRunOf(flowId))!;
        expect(next.getTime()).toBeGreaterThan(now.getTime());
        expect(next.getTime()).toBeLessThanOrEqual(now.getTime() + hour);
      }
    });

    it('runs a one-time flow once and then clears its next run', async () => {
      const on = world();
      const once = await flow(on, 'once', { schedule: { kind: 'one_time', at: later(start, hour).toISOString() } });
      const { instance } = scheduler();
      await instance.tick(later(start, hour));
      await instance.tick(later(start, 3 * hour));
      await instance.stop();
      expect((await jobsOf(once.id)).map((job) => job.idempotency_key)).toEqual([scheduleIdempotencyKey(once.id, later(start, hour))]);
      expect(await nextRunOf(once.id)).toBeNull();
    });

    it('starts nothing of a paused flow', async () => {
      const on = world();
      const paused = await flow(on, 'hourly');
      await pauseFlow(context, on.operator, 'bot', 'hourly');
      const { instance } = scheduler();
      await instance.tick(later(start, 3 * hour));
      await instance.stop();
      expect(await jobsOf(paused.id)).toEqual([]);
    });

    it('claims due flows in capped batches and leaves the rest to the next tick', async () => {
      const on = world();
      const flows = [];
      for (let index = 0; index < 5; index += 1) flows.push(await flow(on, `f${index}`, { schedule: { kind: 'one_time', at: start.toISOString() } }));
      const { instance } = scheduler({ batchSize: 2, maxFlowsPerTick: 3 });
      expect(await instance.tick(later(start, 1000))).toMatchObject({ started: 3 });
      expect(await instance.tick(later(start, 2000))).toMatchObject({ started: 2 });
      await instance.stop();
      for (const created of flows) expect((await jobsOf(created.id)).length).toBe(1);
    });
  });

  describe('one scheduler at a time', () => {
    it('lets only the lease holder tick, and another take over when it stops or its lease runs out', async () => {
      const first = scheduler({ holder: 'first', leaseMs: 30_000 });
      const second = scheduler({ holder: 'second', leaseMs: 30_000 });
      expect((await first.instance.tick(start)).leader).toBe(true);
      expect((await second.instance.tick(later(start, 29_000))).leader).toBe(false);
      expect((await second.instance.tick(later(start, 30_000))).leader).toBe(true);
      expect((await first.instance.tick(later(start, 31_000))).leader).toBe(false);
      await second.instance.stop();
      expect((await first.instance.tick(later(start, 32_000))).leader).toBe(true);
      await first.instance.stop();
    });

    it('never starts a tick twice when two schedulers race, even past the lease', async () => {
      const on = world();
      const raced = await flow(on, 'hourly');
      const due = later(raced.nextRunAt!, 1000);
      // Both past the lease: each believes it leads, as after a pause longer than the lease.
      const [left, right] = [scheduler({ holder: 'left', leaseMs: 1 }), scheduler({ holder: 'right', leaseMs: 1 })];
      await Promise.all([left.instance.tick(due), right.instance.tick(later(due, 5)), left.instance.tick(later(due, 10)), right.instance.tick(later(due, 15))]);
      await Promise.all([left.instance.stop(), right.instance.stop()]);
      expect((await jobsOf(raced.id)).map((job) => job.idempotency_key)).toEqual([scheduleIdempotencyKey(raced.id, raced.nextRunAt!)]);
    });

    it('hides a claimed tick from a second scheduler while the first is still starting it', async () => {
      const on = world();
      const held = await flow(on, 'hourly');
      const due = later(held.nextRunAt!, 1000);
      let release!: () => void;
      let entered!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const inStarter = new Promise<void>((resolve) => (entered = resolve));
      const slowStarter = jobRowStarter(context, async () => {
        entered();
        await gate;
      });
      const slow = createScheduler({ context, starter: slowStarter.start, logger: recordingLogger(), holder: 'slow', leaseMs: 1 });
      const fast = scheduler({ holder: 'fast', leaseMs: 1 });
      const slowTick = slow.tick(due);
      await inStarter;
      expect(await fast.instance.tick(later(due, 10))).toMatchObject({ leader: true, started: 0 });
      release();
      expect(await slowTick).toMatchObject({ started: 1 });
      await Promise.all([slow.stop(), fast.instance.stop()]);
      expect((await jobsOf(held.id)).length).toBe(1);
    });

    it('retries a tick whose scheduler died after starting it, under the same key, without a second run', async () => {
      const on = world();
      const crashed = await flow(on, 'hourly');
      const tick = crashed.nextRunAt!;
      // The run is started, then the scheduler dies before it settles the claim.
      const dying = jobRowStarter(context);
      const failing = createScheduler({
        context,
        starter: async (request) => {
          await dying.start(request);
          throw new Error('process died');
        },
        logger: recordingLogger(),
        holder: 'dying',
        leaseMs: 1,
        claimMs: 60_000,
      });
      expect(await failing.tick(later(tick, 1000))).toMatchObject({ failed: 1 });
      await failing.stop();
      const next = scheduler({ holder: 'next', leaseMs: 1 });
      expect(await next.instance.tick(later(tick, 30_000))).toMatchObject({ started: 0 });
      expect(await next.instance.tick(later(tick, 61_000))).toMatchObject({ started: 1, skipped: 0 });
      await next.instance.stop();
      expect((await jobsOf(crashed.id)).map((job) => job.idempotency_key)).toEqual([scheduleIdempotencyKey(crashed.id, tick)]);
      expect(next.starter.requests.map((request) => request.idempotencyKey)).toEqual([scheduleIdempotencyKey(crashed.id, tick)]);
      expect(await nextRunOf(crashed.id)).toEqual(later(tick, hour));
    });
  });

  describe('running by itself', () => {
    it('ticks after start until stopped, then gives the lease up', async () => {
      const on = world();
      const looped = await flow(on, 'once', { schedule: { kind: 'one_time', at: start.toISOString() } });
      context.setNow(later(start, 1000));
      const { instance } = scheduler({ holder: 'loop', tickMs: 10 });
      instance.start();
      const deadline = Date.now() + 4_000;
      while ((await jobsOf(looped.id)).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      await instance.stop();
      expect((await jobsOf(looped.id)).length).toBe(1);
      expect(await database.db.selectFrom('dm_scheduler_leases').select('holder').where('holder', '=', 'loop').execute()).toEqual([]);
    });
  });
});
