import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { createFlow, listFlows } from '../flows/flow-repository';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { definitionCounts, digestStepConfig, digestSteps, flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import { exportPipeline, importPipeline, type PortablePipeline } from './pipeline-portable';
import { createPipeline, listPipelines } from './pipeline-repository';

await describeEachDatabase<DataMachineDatabase>('pipeline export and import', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  /** A world whose `bot` has the digest pipeline with two flows, and an empty agent `copy`. */
  async function exported(slug: string): Promise<{ world: FlowWorld; document: PortablePipeline; copyId: string }> {
    const world = await flowWorld(context, slug);
    await createPipeline(context, world.admin, world.handlers, 'bot', { slug: 'digest', name: 'Digest', steps: digestSteps });
    await createFlow(context, world.admin, world.handlers, 'bot', { pipeline: 'digest', slug: 'daily', name: 'Daily', stepConfig: digestStepConfig, schedule: { kind: 'interval', every: 'daily' } });
    await createFlow(context, world.admin, world.handlers, 'bot', { pipeline: 'digest', slug: 'adhoc', name: 'Ad hoc', stepConfig: digestStepConfig, paused: true, maxItems: 5 });
    const copy = await createAgent(context, world.owner, { slug: 'copy', name: 'Copy' });
    return { world, document: await exportPipeline(context, world.viewer, 'bot', 'digest'), copyId: copy.id };
  }

  it('exports slugs and settings with a format version, and no ids, tenants or times', async () => {
    const { document, world } = await exported('port-export');
    expect(document).toMatchObject({ format: 'data-machine.pipeline', version: 1, pipeline: { slug: 'digest', name: 'Digest' } });
    expect(document.flows.map((flow) => [flow.slug, flow.paused, flow.maxItems])).toEqual([
      ['adhoc', true, 5],
      ['daily', false, 1],
    ]);
    const text = JSON.stringify(document);
    for (const secret of [world.agent.id, world.tenant.id, 'pipe_', 'flow_', 'createdAt', '2026-']) expect(text).not.toContain(secret);
  });

  it('round-trips: importing into another agent and exporting again gives the same document', async () => {
    const { world, document } = await exported('port-round');
    const imported = await importPipeline(context, world.owner, world.handlers, 'copy', JSON.parse(JSON.stringify(document)));
    expect(imported.pipeline.slug).toBe('digest');
    expect(imported.flows.map((flow) => flow.slug)).toEqual(['adhoc', 'daily']);
    expect(imported.flows.every((flow) => flow.agentId === imported.pipeline.agentId && flow.pipelineId === imported.pipeline.id)).toBe(true);
    // An imported flow is scheduled like a created one: the daily flow has its first tick, the paused one none.
    expect(imported.flows.map((flow) => flow.nextRunAt !== null)).toEqual([false, true]);
    expect(await exportPipeline(context, world.owner, 'copy', 'digest')).toEqual(document);
  });

  it('refuses a taken pipeline slug and writes nothing', async () => {
    const { world, document, copyId } = await exported('port-conflict');
    await importPipeline(context, world.owner, world.handlers, 'copy', document);
    expect(await codeOf(importPipeline(context, world.owner, world.handlers, 'copy', document))).toBe('pipeline.slug_taken');
    expect(await definitionCounts(database.db, copyId)).toEqual({ pipelines: 1, flows: 2 });
  });

  it('refuses a taken flow slug and writes nothing, not even the pipeline', async () => {
    const { world, document, copyId } = await exported('port-flow-conflict');
    await createPipeline(context, world.owner, world.handlers, 'copy', { slug: 'notes', name: 'Notes', steps: [{ key: 'draft', type: 'ai' }] });
    await createFlow(context, world.owner, world.handlers, 'copy', { pipeline: 'notes', slug: 'daily', name: 'Daily notes' });
    expect(await codeOf(importPipeline(context, world.owner, world.handlers, 'copy', document))).toBe('flow.slug_taken');
    expect(await definitionCounts(database.db, copyId)).toEqual({ pipelines: 1, flows: 1 });
  });

  it('renames on request: the next free slug for the pipeline and each taken flow', async () => {
    const { world, document } = await exported('port-rename');
    await importPipeline(context, world.owner, world.handlers, 'bot', document, { onConflict: 'rename' }).then((first) => {
      expect(first.pipeline.slug).toBe('digest-2');
      expect(first.flows.map((flow) => flow.slug)).toEqual(['adhoc-2', 'daily-2']);
    });
    const third = await importPipeline(context, world.owner, world.handlers, 'bot', document, { onConflict: 'rename' });
    expect(third.pipeline.slug).toBe('digest-3');
    expect((await listPipelines(context, world.owner, 'bot')).map((pipeline) => pipeline.slug)).toEqual(['digest', 'digest-2', 'digest-3']);
    expect(await listFlows(context, world.owner, 'bot', { pipeline: 'digest-3' })).toHaveLength(2);
  });

  describe('bad documents, nothing written', () => {
    it('refuses a document of another format or version, and duplicate flow slugs, by path', async () => {
      const { world, document, copyId } = await exported('port-bad-doc');
      const cases: [unknown, string][] = [
        [{ ...document, version: 2 }, 'version'],
        [{ ...document, format: 'something-else' }, 'format'],
        [{ ...document, id: 'pipe_1' }, ''],
        [{ ...document, flows: [document.flows[0], document.flows[0]] }, 'flows.1.slug'],
        ['not a document', ''],
      ];
      for (const [bad, path] of cases) {
        const error = await importPipeline(context, world.owner, world.handlers, 'copy', bad).catch((caught: unknown) => caught);
        expect(DataMachineError.isInstance(error) && error.code).toBe('input.invalid');
        expect((error as DataMachineError).details).toMatchObject({ issues: [{ path }] });
      }
      expect(await codeOf(importPipeline(context, world.owner, world.handlers, 'copy', document, { onConflict: 'merge' as never }))).toBe('input.invalid');
      expect(await definitionCounts(database.db, copyId)).toEqual({ pipelines: 0, flows: 0 });
    });

    it('re-validates steps against the importing handlers', async () => {
      const { world, document, copyId } = await exported('port-bad-steps');
      const steps = [{ key: 'fetch', type: 'fetch', handler: 'rss' }];
      expect(await codeOf(importPipeline(context, world.owner, world.handlers, 'copy', { ...document, pipeline: { ...document.pipeline, steps } }))).toBe('pipeline.invalid_steps');
      expect(await definitionCounts(database.db, copyId)).toEqual({ pipelines: 0, flows: 0 });
    });

    it("re-validates each flow's handler configuration, naming the flow and the field", async () => {
      const { world, document, copyId } = await exported('port-bad-config');
      const [first, second] = document.flows;
      const broken = { ...second!, stepConfig: { ...digestStepConfig, store: { handlerConfig: { collection: 'Not A Slug' } } } };
      const error = await importPipeline(context, world.owner, world.handlers, 'copy', { ...document, flows: [first, broken] }).catch((caught: unknown) => caught);
      expect(DataMachineError.isInstance(error) && error.code).toBe('flow.invalid_config');
      expect((error as DataMachineError).details).toMatchObject({ flow: 'daily', issues: [{ path: 'steps.store.handlerConfig.collection' }] });
      expect(await definitionCounts(database.db, copyId)).toEqual({ pipelines: 0, flows: 0 });
    });
  });

  describe('access', () => {
    it('lets a viewer export but not import', async () => {
      const { world, document } = await exported('port-viewer');
      expect(await codeOf(importPipeline(context, world.viewer, world.handlers, 'bot', document, { onConflict: 'rename' }))).toBe('access.denied');
      expect(await definitionCounts(database.db, world.agent.id)).toEqual({ pipelines: 1, flows: 2 });
    });

    it('answers a member without a grant exactly as for a missing agent', async () => {
      const { world, document } = await exported('port-member');
      expect(await codeOf(exportPipeline(context, world.member, 'bot', 'digest'))).toBe('agent.not_found');
      expect(await codeOf(importPipeline(context, world.member, world.handlers, 'bot', document, { onConflict: 'rename' }))).toBe('agent.not_found');
    });
  });
});
