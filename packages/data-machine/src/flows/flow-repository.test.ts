import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { createPipeline } from '../pipelines/pipeline-repository';
import { codeOf, migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { definitionCounts, digestStepConfig, digestSteps, flowWorld, tokenScope, type FlowWorld } from '../../test/support/pipeline-fixture';
import { createFlow, deleteFlow, getFlow, listFlows, pauseFlow, resumeFlow, updateFlow, type NewFlow } from './flow-repository';

await describeEachDatabase<DataMachineDatabase>('flows', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  async function digestWorld(slug: string): Promise<FlowWorld> {
    const world = await flowWorld(context, slug);
    await createPipeline(context, world.admin, world.handlers, 'bot', { slug: 'digest', name: 'Digest', steps: digestSteps });
    return world;
  }

  function daily(world: FlowWorld, overrides: Partial<NewFlow> = {}) {
    return createFlow(context, world.admin, world.handlers, 'bot', { pipeline: 'digest', slug: 'daily', name: 'Daily', stepConfig: digestStepConfig, ...overrides });
  }

  describe('definitions', () => {
    it("creates a flow with the defaults, on its pipeline's agent", async () => {
      const world = await digestWorld('flow-create');
      const flow = await daily(world);
      expect(flow).toMatchObject({
        agentId: world.agent.id,
        slug: 'daily',
        stepConfig: digestStepConfig,
        schedule: { kind: 'manual' },
        paused: false,
        maxItems: 1,
        concurrency: 1,
        nextRunAt: null,
        createdBy: world.userIds.admin,
      });
      expect(await getFlow(context, world.viewer, 'bot', flow.id)).toEqual(flow);
      expect(await getFlow(context, world.viewer, 'bot', 'daily')).toEqual(flow);
    });

    it('names the pipeline by id as well as by slug, and stores schedule and limits', async () => {
      const world = await digestWorld('flow-by-id');
      const [pipeline] = await database.db.selectFrom('dm_pipelines').select('id').where('agent_id', '=', world.agent.id).execute();
      const flow = await daily(world, { pipeline: pipeline!.id, schedule: { kind: 'interval', every: 'hourly' }, maxItems: 10, concurrency: 2 });
      expect(flow).toMatchObject({ pipelineId: pipeline!.id, schedule: { kind: 'interval', every: 'hourly', catchUp: 'once' }, maxItems: 10, concurrency: 2 });
    });

    it('lists the flows of the agent, or of one pipeline', async () => {
      const world = await digestWorld('flow-list');
      await createPipeline(context, world.admin, world.handlers, 'bot', { slug: 'notes', name: 'Notes', steps: [{ key: 'draft', type: 'ai' }] });
      await daily(world);
      await createFlow(context, world.admin, world.handlers, 'bot', { pipeline: 'notes', slug: 'adhoc', name: 'Ad hoc' });
      expect((await listFlows(context, world.viewer, 'bot')).map((flow) => flow.slug)).toEqual(['adhoc', 'daily']);
      expect((await listFlows(context, world.viewer, 'bot', { pipeline: 'digest' })).map((flow) => flow.slug)).toEqual(['daily']);
      expect(await codeOf(listFlows(context, world.viewer, 'bot', { pipeline: 'nothing' }))).toBe('pipeline.not_found');
    });

    it('changes name, slug, configuration, schedule and limits, validating the new configuration', async () => {
      const world = await digestWorld('flow-update');
      const flow = await daily(world);
      const stepConfig = { ...digestStepConfig, store: { handlerConfig: { collection: 'archive' } } };
      const updated = await updateFlow(context, world.admin, world.handlers, 'bot', 'daily', {
        slug: 'nightly',
        name: 'Nightly',
        stepConfig,
        schedule: { kind: 'cron', expression: '0 3 * * *', timeZone: 'Europe/Paris' },
        maxItems: 5,
        concurrency: 3,
      });
      expect(updated).toMatchObject({ id: flow.id, slug: 'nightly', name: 'Nightly', stepConfig, maxItems: 5, concurrency: 3, schedule: { kind: 'cron', timeZone: 'Europe/Paris' } });
      expect(await getFlow(context, world.admin, 'bot', 'nightly')).toEqual(updated);
    });

    it('deletes a flow', async () => {
      const world = await digestWorld('flow-delete');
      await daily(world);
      await deleteFlow(context, world.admin, 'bot', 'daily');
      expect(await codeOf(getFlow(context, world.admin, 'bot', 'daily'))).toBe('flow.not_found');
      expect(await codeOf(deleteFlow(context, world.admin, 'bot', 'daily'))).toBe('flow.not_found');
    });
  });

  describe('bad input, nothing written', () => {
    it('refuses a handler configuration that fails its schema, naming the field', async () => {
      const world = await digestWorld('flow-bad-config');
      const error = await daily(world, { stepConfig: { ...digestStepConfig, store: { handlerConfig: { collection: 42 } } } }).catch((caught: unknown) => caught);
      expect(DataMachineError.isInstance(error) && error.code).toBe('flow.invalid_config');
      expect((error as DataMachineError).details).toMatchObject({ flow: 'daily', issues: [{ path: 'steps.store.handlerConfig.collection' }] });
      expect((error as DataMachineError).message).toContain('steps.store.handlerConfig.collection');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 1, flows: 0 });
    });

    it('refuses a missing handler configuration the step has no default for', async () => {
      const world = await digestWorld('flow-no-config');
      expect(await codeOf(daily(world, { stepConfig: {} }))).toBe('flow.invalid_config');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 1, flows: 0 });
    });

    it('refuses a bad schedule and limits out of range, by field', async () => {
      const world = await digestWorld('flow-bad-schedule');
      const error = await daily(world, { schedule: { kind: 'interval', every: 'fortnightly' } as never }).catch((caught: unknown) => caught);
      expect(DataMachineError.isInstance(error) && error.code).toBe('input.invalid');
      expect((error as DataMachineError).details).toMatchObject({ issues: [{ path: 'schedule.every' }] });
      expect(await codeOf(daily(world, { maxItems: 0 }))).toBe('input.invalid');
      expect(await codeOf(daily(world, { concurrency: 1.5 }))).toBe('input.invalid');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 1, flows: 0 });
    });

    it('refuses a slug the agent already uses, on create and on rename', async () => {
      const world = await digestWorld('flow-dup');
      await daily(world);
      await daily(world, { slug: 'weekly' });
      expect(await codeOf(daily(world))).toBe('flow.slug_taken');
      expect(await codeOf(updateFlow(context, world.admin, world.handlers, 'bot', 'weekly', { slug: 'daily' }))).toBe('flow.slug_taken');
      expect((await listFlows(context, world.admin, 'bot')).map((flow) => flow.slug)).toEqual(['daily', 'weekly']);
    });

    it("refuses a pipeline of another agent as not found: a flow's agent is its pipeline's", async () => {
      const world = await digestWorld('flow-other-pipeline');
      await createAgent(context, world.owner, { slug: 'other', name: 'Other' });
      const theirs = await createPipeline(context, world.owner, world.handlers, 'other', { slug: 'theirs', name: 'Theirs', steps: digestSteps });
      expect(await codeOf(daily(world, { pipeline: theirs.id }))).toBe('pipeline.not_found');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 1, flows: 0 });
    });

    it('keeps the old configuration when an update is refused', async () => {
      const world = await digestWorld('flow-bad-update');
      const flow = await daily(world);
      expect(await codeOf(updateFlow(context, world.admin, world.handlers, 'bot', 'daily', { name: 'Renamed', stepConfig: { nothing: {} } }))).toBe('flow.invalid_config');
      expect(await getFlow(context, world.admin, 'bot', 'daily')).toEqual(flow);
    });
  });

  describe('pause and resume', () => {
    it('lets an operator pause and resume, and pausing twice changes nothing', async () => {
      const world = await digestWorld('flow-pause');
      await daily(world);
      const paused = await pauseFlow(context, world.operator, 'bot', 'daily');
      expect(paused.paused).toBe(true);
      expect(await pauseFlow(context, world.operator, 'bot', 'daily')).toEqual(paused);
      expect((await resumeFlow(context, world.operator, 'bot', 'daily')).paused).toBe(false);
    });

    it('refuses a viewer, and an operator changing the definition', async () => {
      const world = await digestWorld('flow-pause-viewer');
      await daily(world);
      expect(await codeOf(pauseFlow(context, world.viewer, 'bot', 'daily'))).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'flow.run', reason: 'agent_role_too_low' });
      expect(await codeOf(updateFlow(context, world.operator, world.handlers, 'bot', 'daily', { name: 'x' }))).toBe('access.denied');
      expect(await codeOf(deleteFlow(context, world.operator, 'bot', 'daily'))).toBe('access.denied');
      expect((await getFlow(context, world.viewer, 'bot', 'daily')).paused).toBe(false);
    });

    it('holds a token to manage_flows in its ceiling', async () => {
      const world = await digestWorld('flow-pause-token');
      await daily(world);
      const chatOnly = await tokenScope(context, world.admin, ['chat']);
      const flows = await tokenScope(context, world.admin, ['manage_flows']);
      expect(await codeOf(pauseFlow(context, chatOnly, 'bot', 'daily'))).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'flow.run', reason: 'token_ceiling' });
      expect((await pauseFlow(context, flows, 'bot', 'daily')).paused).toBe(true);
    });
  });

  describe('concurrent pipeline change', () => {
    /** Resolves once some session of this database waits on a lock: the real signal that a write is blocked. */
    async function someoneWaitsOnALock(): Promise<void> {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { rows } = await sql<{ waiting: number }>`select count(*)::int as waiting from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(database.db);
        if ((rows[0]?.waiting ?? 0) > 0) return;
        if (Date.now() > deadline) throw new Error('no session waited on a lock');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    // One connection on PGlite: transactions cannot interleave there.
    it.skipIf(database.backend !== 'postgres')('checks a new flow against the steps a pipeline change in progress leaves', async () => {
      const world = await digestWorld('flow-race');
      const change = await database.db.startTransaction().execute();
      let creating: Promise<string> | undefined;
      try {
        // What updatePipeline does: lock the pipeline row, then write new steps (here without `store`).
        await change.selectFrom('dm_pipelines').select('id').where('agent_id', '=', world.agent.id).forUpdate().execute();
        await change.updateTable('dm_pipelines').set({ steps: JSON.stringify([{ key: 'fetch', type: 'fetch', handler: 'json_items', config: {} }]) }).where('agent_id', '=', world.agent.id).execute();
        creating = codeOf(daily(world, { stepConfig: { fetch: digestStepConfig.fetch, store: digestStepConfig.store } }));
        await someoneWaitsOnALock();
        await change.commit().execute();
      } catch (error) {
        await change.rollback().execute();
        throw error;
      }
      expect(await creating).toBe('flow.invalid_config');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 1, flows: 0 });
    });
  });

  describe('isolation', () => {
    it('answers a member without a grant, and another tenant, exactly as for a missing agent', async () => {
      const world = await digestWorld('flow-iso');
      const flow = await daily(world);
      const other = await tenantWithMembers(context, 'flow-iso-other');
      const stranger = await scopeOf(context, other.owner.id, world.tenant.id);
      const otherOwner = await scopeOf(context, other.owner.id, other.tenant.id);
      const attempts = [
        () => getFlow(context, world.member, 'bot', 'daily'),
        () => pauseFlow(context, world.member, 'bot', 'daily'),
        () => createFlow(context, world.member, world.handlers, 'bot', { pipeline: 'digest', slug: 'x', name: 'x', stepConfig: digestStepConfig }),
        () => getFlow(context, stranger, 'bot', 'daily'),
        () => pauseFlow(context, otherOwner, world.agent.id, flow.id),
        () => deleteFlow(context, otherOwner, world.agent.id, flow.id),
      ];
      for (const attempt of attempts) expect(await codeOf(attempt())).toBe('agent.not_found');
      expect(await getFlow(context, world.admin, 'bot', 'daily')).toEqual(flow);
    });
  });
});
