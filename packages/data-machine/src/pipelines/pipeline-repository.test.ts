import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { createFlow, deleteFlow } from '../flows/flow-repository';
import { codeOf, migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { definitionCounts, digestStepConfig, digestSteps, flowWorld, tokenScope, type FlowWorld } from '../../test/support/pipeline-fixture';
import { createPipeline, deletePipeline, getPipeline, listPipelines, updatePipeline } from './pipeline-repository';

await describeEachDatabase<DataMachineDatabase>('pipelines', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  function digest(world: FlowWorld, slug = 'digest') {
    return createPipeline(context, world.admin, world.handlers, 'bot', { slug, name: 'Digest', steps: digestSteps });
  }

  describe('definitions', () => {
    it('creates a pipeline with its steps in order, defaults applied, and reads it by id or slug', async () => {
      const world = await flowWorld(context, 'pipe-create');
      const created = await digest(world);
      expect(created).toMatchObject({ agentId: world.agent.id, tenantId: world.tenant.id, slug: 'digest', createdBy: world.userIds.admin });
      expect(created.steps).toEqual([
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
        { key: 'summarize', type: 'ai', config: {} },
        { key: 'store', type: 'publish', handler: 'records', config: {} },
      ]);
      expect(await getPipeline(context, world.viewer, 'bot', created.id)).toEqual(created);
      expect(await getPipeline(context, world.viewer, world.agent.id, 'digest')).toEqual(created);
    });

    it("lists an agent's pipelines by slug, and only that agent's", async () => {
      const world = await flowWorld(context, 'pipe-list');
      await digest(world, 'zeta');
      await digest(world, 'alpha');
      await createAgent(context, world.owner, { slug: 'other', name: 'Other' });
      await createPipeline(context, world.owner, world.handlers, 'other', { slug: 'elsewhere', name: 'Elsewhere', steps: digestSteps });
      expect((await listPipelines(context, world.viewer, 'bot')).map((pipeline) => pipeline.slug)).toEqual(['alpha', 'zeta']);
    });

    it('changes the name, slug and steps', async () => {
      const world = await flowWorld(context, 'pipe-update');
      const created = await digest(world);
      context.setNow(new Date('2026-11-30T13:00:00.000Z'));
      try {
        const updated = await updatePipeline(context, world.admin, world.handlers, 'bot', 'digest', {
          slug: 'renamed',
          name: 'Renamed',
          steps: [{ key: 'draft', type: 'ai' }],
        });
        expect(updated).toMatchObject({ id: created.id, slug: 'renamed', name: 'Renamed', steps: [{ key: 'draft', type: 'ai', config: {} }] });
        expect(updated.updatedAt).toEqual(new Date('2026-11-30T13:00:00.000Z'));
        expect(await getPipeline(context, world.admin, 'bot', 'renamed')).toEqual(updated);
      } finally {
        context.setNow(new Date('2026-11-30T12:00:00.000Z'));
      }
    });

    it('refuses to delete a pipeline that has flows, then deletes it once they are gone', async () => {
      const world = await flowWorld(context, 'pipe-delete');
      await digest(world);
      await createFlow(context, world.admin, world.handlers, 'bot', { pipeline: 'digest', slug: 'daily', name: 'Daily', stepConfig: digestStepConfig });
      const refused = await deletePipeline(context, world.admin, 'bot', 'digest').catch((error: unknown) => error);
      expect(DataMachineError.isInstance(refused) && refused.code).toBe('pipeline.in_use');
      expect((refused as DataMachineError).details).toMatchObject({ flows: ['daily'] });
      await deleteFlow(context, world.admin, 'bot', 'daily');
      await deletePipeline(context, world.admin, 'bot', 'digest');
      expect(await codeOf(getPipeline(context, world.admin, 'bot', 'digest'))).toBe('pipeline.not_found');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 0, flows: 0 });
    });
  });

  describe('bad input, nothing written', () => {
    it('refuses invalid steps with every problem by path', async () => {
      const world = await flowWorld(context, 'pipe-bad-steps');
      const error = await createPipeline(context, world.admin, world.handlers, 'bot', {
        slug: 'bad',
        name: 'Bad',
        steps: [{ key: 'draft', type: 'ai' }, { key: 'fetch', type: 'fetch', handler: 'rss' }],
      }).catch((caught: unknown) => caught);
      expect(DataMachineError.isInstance(error) && error.code).toBe('pipeline.invalid_steps');
      expect((error as DataMachineError).details).toEqual({ issues: [{ path: 'steps.1.handler', message: 'there is no handler "rss"' }] });
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 0, flows: 0 });
    });

    it('refuses a malformed slug and unknown fields', async () => {
      const world = await flowWorld(context, 'pipe-bad-slug');
      expect(await codeOf(createPipeline(context, world.admin, world.handlers, 'bot', { slug: 'Bad Slug', name: 'x', steps: digestSteps }))).toBe('input.invalid');
      expect(await codeOf(createPipeline(context, world.admin, world.handlers, 'bot', { slug: 'x', name: 'x', steps: digestSteps, agent: 'bot' } as never))).toBe('input.invalid');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 0, flows: 0 });
    });

    it('refuses a slug the agent already uses, on create and on rename', async () => {
      const world = await flowWorld(context, 'pipe-dup');
      await digest(world, 'one');
      await digest(world, 'two');
      expect(await codeOf(digest(world, 'one'))).toBe('pipeline.slug_taken');
      expect(await codeOf(updatePipeline(context, world.admin, world.handlers, 'bot', 'two', { slug: 'one' }))).toBe('pipeline.slug_taken');
      expect((await listPipelines(context, world.admin, 'bot')).map((pipeline) => pipeline.slug)).toEqual(['one', 'two']);
    });

    it('lets another agent use the same slug', async () => {
      const world = await flowWorld(context, 'pipe-dup-agents');
      await digest(world, 'shared');
      await createAgent(context, world.owner, { slug: 'other', name: 'Other' });
      await expect(createPipeline(context, world.owner, world.handlers, 'other', { slug: 'shared', name: 'Shared', steps: digestSteps })).resolves.toMatchObject({ slug: 'shared' });
    });

    it("refuses new steps that would leave a flow's configuration invalid, naming the flow, and changes nothing", async () => {
      const world = await flowWorld(context, 'pipe-orphan');
      const before = await digest(world);
      await createFlow(context, world.admin, world.handlers, 'bot', { pipeline: 'digest', slug: 'daily', name: 'Daily', stepConfig: digestStepConfig });
      const error = await updatePipeline(context, world.admin, world.handlers, 'bot', 'digest', { name: 'Changed', steps: [{ key: 'summarize', type: 'ai' }] }).catch(
        (caught: unknown) => caught,
      );
      expect(DataMachineError.isInstance(error) && error.code).toBe('flow.invalid_config');
      expect((error as DataMachineError).details).toMatchObject({ flow: 'daily', issues: [{ path: 'steps.fetch' }, { path: 'steps.store' }] });
      expect(await getPipeline(context, world.admin, 'bot', 'digest')).toEqual(before);
    });

    it("answers another agent's pipeline as not found", async () => {
      const world = await flowWorld(context, 'pipe-other-agent');
      await createAgent(context, world.owner, { slug: 'other', name: 'Other' });
      const theirs = await createPipeline(context, world.owner, world.handlers, 'other', { slug: 'theirs', name: 'Theirs', steps: digestSteps });
      expect(await codeOf(getPipeline(context, world.owner, 'bot', theirs.id))).toBe('pipeline.not_found');
      expect(await codeOf(deletePipeline(context, world.owner, 'bot', theirs.id))).toBe('pipeline.not_found');
    });
  });

  describe('access', () => {
    it('lets a viewer read but not create, change or delete', async () => {
      const world = await flowWorld(context, 'pipe-viewer');
      await digest(world);
      await expect(listPipelines(context, world.viewer, 'bot')).resolves.toHaveLength(1);
      expect(await codeOf(digest({ ...world, admin: world.viewer }, 'mine'))).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'flow.create', reason: 'agent_role_too_low' });
      expect(await codeOf(updatePipeline(context, world.viewer, world.handlers, 'bot', 'digest', { name: 'x' }))).toBe('access.denied');
      expect(await codeOf(deletePipeline(context, world.viewer, 'bot', 'digest'))).toBe('access.denied');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 1, flows: 0 });
    });

    it('refuses an operator writing pipelines', async () => {
      const world = await flowWorld(context, 'pipe-operator');
      expect(await codeOf(createPipeline(context, world.operator, world.handlers, 'bot', { slug: 'x', name: 'x', steps: digestSteps }))).toBe('access.denied');
    });

    it('answers a member without a grant exactly as for a missing agent', async () => {
      const world = await flowWorld(context, 'pipe-member');
      await digest(world);
      const attempts = [() => listPipelines(context, world.member, 'bot'), () => getPipeline(context, world.member, 'bot', 'digest'), () => digest({ ...world, admin: world.member }, 'x')];
      for (const attempt of attempts) expect(await codeOf(attempt())).toBe('agent.not_found');
    });

    it("never shows or writes another tenant's pipelines", async () => {
      const world = await flowWorld(context, 'pipe-tenant-a');
      await digest(world);
      const other = await tenantWithMembers(context, 'pipe-tenant-b');
      const stranger = await scopeOf(context, other.owner.id, world.tenant.id);
      const otherOwner = await scopeOf(context, other.owner.id, other.tenant.id);
      expect(await codeOf(listPipelines(context, stranger, 'bot'))).toBe('agent.not_found');
      expect(await codeOf(listPipelines(context, otherOwner, world.agent.id))).toBe('agent.not_found');
      expect(await codeOf(createPipeline(context, otherOwner, world.handlers, world.agent.id, { slug: 'x', name: 'x', steps: digestSteps }))).toBe('agent.not_found');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 1, flows: 0 });
    });

    it("holds an agent token to its ceiling: chat reads, manage_flows writes", async () => {
      const world = await flowWorld(context, 'pipe-token');
      const reader = await tokenScope(context, world.admin, ['chat']);
      const writer = await tokenScope(context, world.admin, ['chat', 'manage_flows']);
      expect(await codeOf(digest({ ...world, admin: reader }))).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'flow.create', reason: 'token_ceiling' });
      await expect(digest({ ...world, admin: writer })).resolves.toMatchObject({ slug: 'digest' });
      await expect(listPipelines(context, reader, 'bot')).resolves.toHaveLength(1);
      expect(await codeOf(listPipelines(context, writer, 'default'))).toBe('agent.not_found');
    });
  });
});
