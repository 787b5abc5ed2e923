import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { codeOf, migratedContext, scopeOf, type TestContext } from '../../test/support/identity-fixture';
import { asEngine } from '../../test/support/engine-fixture';
import { flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createJobEffectsRecorder } from '../engine/job-effects';
import { createFlow } from '../flows/flow-repository';
import { grantAgentRole } from '../grants/grant-repository';
import { handlerEffectsFor, type HandlerEffect, type RevertOutcome } from '../handlers/handler-effect';
import { createHandlerRegistry, type HandlerRegistry } from '../handlers/handler-registry';
import { jsonItemsHandler } from '../handlers/json-items-handler';
import { createChildJobs, createJob } from '../jobs/job-lifecycle';
import { createPipeline } from '../pipelines/pipeline-repository';
import { listJobEffects, type JobEffect } from './job-effect-repository';
import { runUndo } from './undo-runner';

/** What the `tally` handler's revert answers for a ref: by its first word, until `fixed` lets every ref revert. */
const revertAnswers: Readonly<Record<string, RevertOutcome>> = {
  ok: { status: 'reverted' },
  gone: { status: 'skipped', reason: 'already_gone', message: 'The row is no longer there.' },
  bad: { status: 'failed', error: { code: 'handler.http_status', message: 'The remote answered 503.' } },
};

await describeEachDatabase<DataMachineDatabase>('the effects of a job', (database) => {
  let context: TestContext;
  let world: FlowWorld;
  let handlers: HandlerRegistry;
  let flowId: string;
  let fixed = false;

  beforeAll(async () => {
    context = await migratedContext(database.db);
    handlers = createHandlerRegistry([
      jsonItemsHandler,
      {
        kind: 'publish',
        slug: 'tally',
        description: 'Counts what it is asked to publish (test).',
        configSchema: z.object({}),
        publish: async (request) => ({ id: request.idempotencyKey, created: true }),
        revert: async (effect) => (fixed ? { status: 'reverted' } : (revertAnswers[effect.ref.split(':')[0] ?? ''] ?? { status: 'reverted' })),
      },
    ]);
    world = await flowWorld(context, 'effects-list');
    await createPipeline(context, world.owner, handlers, 'bot', {
      slug: 'main',
      name: 'Main',
      steps: [
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id', items: [] } },
        { key: 'store', type: 'publish', handler: 'tally' },
      ],
    });
    flowId = (await createFlow(context, world.owner, handlers, 'bot', { pipeline: 'main', slug: 'main', name: 'Main' })).id;
  });

  /** A completed job of `bot` (a fan-out child of `parent` when given) with `effects` reported by its `store` step, a second apart. */
  async function jobWithEffects(effects: readonly HandlerEffect[], parent?: string): Promise<string> {
    const jobId = await asEngine(context, world.tenant.id, async (trx) =>
      parent === undefined ? (await createJob(context, trx, { flowId, source: 'manual' })).job.id : (await createChildJobs(context, trx, parent, [{ itemKey: `item-${effects.length}` }]))[0]?.id ?? '',
    );
    const recorder = createJobEffectsRecorder(context, world.tenant.id, jobId);
    for (const effect of effects) {
      tick();
      await handlerEffectsFor(recorder, 'store', 'tally').record(effect);
    }
    await asEngine(context, world.tenant.id, (trx) => trx.updateTable('dm_jobs').set({ status: 'completed', finished_at: context.now() }).where('id', '=', jobId).execute());
    return jobId;
  }

  let clock = Date.parse('2026-12-01T09:00:00.000Z');
  const tick = () => {
    clock += 1000;
    context.setNow(new Date(clock));
  };

  /** Runs an undo of `jobId` as a worker would, and resolves to its id. */
  async function undone(jobId: string): Promise<string> {
    tick();
    const undoId = context.newId('undo');
    await asEngine(context, world.tenant.id, (trx) =>
      trx.insertInto('dm_undos').values({ id: undoId, tenant_id: world.tenant.id, agent_id: world.agent.id, job_id: jobId, status: 'pending', requested_by: null, created_at: context.now() }).execute(),
    );
    await runUndo({ context, handlers }, { tenantId: world.tenant.id, undoId });
    return undoId;
  }

  const post = (ref: string, extra: Partial<HandlerEffect> = {}): HandlerEffect => ({ kind: 'tally_made', ref, reversible: true, undo: {}, ...extra });
  const summary = (effects: readonly JobEffect[]) => effects.map(({ step, handler, kind, ref, url, reversible, undo }) => ({ step, handler, kind, ref, url, reversible, undo: undo.status }));

  it("lists what the job's handlers and its fan-out children's did, oldest first, with the link each recorded", async () => {
    const parent = await jobWithEffects([post('ok:1', { undo: { link: 'https://blog.example/launch' } })]);
    const child = await jobWithEffects([post('ok:2', { kind: 'tally_sent', reversible: false, undo: { url: 'http://hooks.example/in', status: 200 } })], parent);
    // The engine's own markers in the same table are not effects.
    await createJobEffectsRecorder(context, world.tenant.id, parent).record({ key: 'publish:store', kind: 'publish', detail: { step: 'store' } });
    await jobWithEffects([post('ok:elsewhere')]);

    const page = await listJobEffects(context, world.operator, 'bot', parent);
    expect(summary(page.items)).toEqual([
      { step: 'store', handler: 'tally', kind: 'tally_made', ref: 'ok:1', url: 'https://blog.example/launch', reversible: true, undo: 'not_undone' },
      { step: 'store', handler: 'tally', kind: 'tally_sent', ref: 'ok:2', url: 'http://hooks.example/in', reversible: false, undo: 'not_undone' },
    ]);
    expect(page.items.map((effect) => effect.jobId)).toEqual([parent, child]);
    expect(page.nextCursor).toBeNull();
    // A child's own page shows only its effects.
    expect((await listJobEffects(context, world.operator, world.agent.id, child)).items.map((effect) => effect.ref)).toEqual(['ok:2']);
  });

  it('records no link that is not an http(s) address', async () => {
    const jobId = await jobWithEffects([post('ok:script', { undo: { link: 'javascript:alert(1)' } })]);
    expect((await listJobEffects(context, world.operator, 'bot', jobId)).items[0]?.url).toBeNull();
  });

  it('tells each effect undone, skipped with the reason or failed with the code, as the latest undo left it', async () => {
    const jobId = await jobWithEffects([post('ok:a'), post('gone:b'), post('bad:c')]);
    const first = await undone(jobId);
    const afterFirst = (await listJobEffects(context, world.operator, 'bot', jobId)).items;
    expect(afterFirst.map((effect) => effect.undo)).toEqual([
      { status: 'undone', undoId: first, at: expect.any(Date) },
      { status: 'skipped', undoId: first, reason: 'already_gone', message: 'The row is no longer there.', at: expect.any(Date) },
      { status: 'failed', undoId: first, error: { code: 'handler.http_status', message: 'The remote answered 503.' }, at: expect.any(Date) },
    ]);

    // The remote is back: undoing again reverts the failed one; the reverted one stays with the undo that reverted it.
    fixed = true;
    try {
      const second = await undone(jobId);
      const afterSecond = (await listJobEffects(context, world.operator, 'bot', jobId)).items;
      expect(afterSecond.map((effect) => [effect.ref, effect.undo.status, 'undoId' in effect.undo ? effect.undo.undoId : null])).toEqual([
        ['ok:a', 'undone', first],
        ['gone:b', 'undone', second],
        ['bad:c', 'undone', second],
      ]);
    } finally {
      fixed = false;
    }
  });

  it("shows a child's effect undone by an undo of its fan-out parent", async () => {
    const parent = await jobWithEffects([]);
    const child = await jobWithEffects([post('bad:child')], parent);
    const undo = await undone(parent);
    expect((await listJobEffects(context, world.operator, 'bot', child)).items.map((effect) => effect.undo)).toEqual([
      { status: 'failed', undoId: undo, error: { code: 'handler.http_status', message: 'The remote answered 503.' }, at: expect.any(Date) },
    ]);
  });

  it('pages through the effects, each once, in the order they were made', async () => {
    // Five effects in one clock tick: their insertion order breaks the tie.
    const jobId = await asEngine(context, world.tenant.id, async (trx) => (await createJob(context, trx, { flowId, source: 'manual' })).job.id);
    const recorder = handlerEffectsFor(createJobEffectsRecorder(context, world.tenant.id, jobId), 'store', 'tally');
    for (const ref of ['ok:p1', 'ok:p2', 'ok:p3', 'ok:p4', 'ok:p5']) await recorder.record(post(ref));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listJobEffects(context, world.operator, 'bot', jobId, { limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items.map((effect) => effect.ref));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(seen).toEqual(['ok:p1', 'ok:p2', 'ok:p3', 'ok:p4', 'ok:p5']);
    expect(await codeOf(listJobEffects(context, world.operator, 'bot', jobId, { cursor: 'not-a-cursor' }))).toBe('input.invalid');
    const foreign = Buffer.from(JSON.stringify([0, "1) or (true"])).toString('base64url');
    expect(await codeOf(listJobEffects(context, world.operator, 'bot', jobId, { cursor: foreign }))).toBe('input.invalid');
  });

  describe('who may read them', () => {
    it("is who may read the job: operators and above, not the agent's viewers", async () => {
      const jobId = await jobWithEffects([post('ok:who')]);
      for (const scope of [world.owner, world.admin, world.operator]) expect((await listJobEffects(context, scope, 'bot', jobId)).items).toHaveLength(1);
      expect(await codeOf(listJobEffects(context, world.viewer, 'bot', jobId))).toBe('access.denied');
    });

    it("answers a job, or an agent, the caller may not see exactly as a missing one, also to a viewer of another agent", async () => {
      const jobId = await jobWithEffects([post('ok:hidden')]);
      expect(await codeOf(listJobEffects(context, world.operator, 'bot', 'job_missing'))).toBe('job.not_found');
      expect(await codeOf(listJobEffects(context, world.operator, 'nobody', jobId))).toBe('agent.not_found');
      // A member with no role on `bot` who is the admin of another agent: that agent has no such job, and `bot` is invisible.
      const other = await createAgent(context, world.owner, { slug: 'other', name: 'Other' });
      await grantAgentRole(context, world.owner, 'other', { userId: world.userIds.member, role: 'admin' });
      const member = await scopeOf(context, world.userIds.member, world.tenant.id);
      expect(await codeOf(listJobEffects(context, member, other.slug, jobId))).toBe('job.not_found');
      expect(await codeOf(listJobEffects(context, member, 'bot', jobId))).toBe('agent.not_found');
      // The viewer of `bot` made viewer of `other` too: neither lets it read the job's effects.
      await grantAgentRole(context, world.owner, 'other', { userId: world.userIds.viewer, role: 'viewer' });
      expect(await codeOf(listJobEffects(context, world.viewer, 'other', jobId))).toBe('access.denied');
    });
  });
});
