import { describeEachDatabase } from '@data-machine/testkit';
import { createChildJobs, createJob, writeJobLog, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, asEngine, digestPipeline, grant, startApp, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('automation routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  let setNow: (instant: Date) => void;

  beforeAll(async () => {
    ({ app, context, setNow } = await startApp(database));
  });
  afterAll(async () => {
    await app.close();
  });

  /** A request's status and error code (or null on success). */
  async function outcome(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, token: string, payload?: unknown, headers: Record<string, string> = {}) {
    const response = await app.inject({ method, url, headers: as(token, headers), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
    const body = response.body === '' ? null : (response.json() as { error?: { code: string } });
    return [response.statusCode, body?.error?.code ?? null] as const;
  }

  /** A tenant whose default agent has the digest pipeline and a flow `daily` of it. */
  async function withFlow(slug: string, roles: Parameters<typeof tenantWorld>[2] = []) {
    const world = await tenantWorld(context, slug, roles);
    const agent = world.defaultAgent.slug;
    expect((await app.inject({ method: 'POST', url: `/agents/${agent}/pipelines`, headers: as(world.owner.token), payload: digestPipeline })).statusCode).toBe(201);
    const flow = await app.inject({ method: 'POST', url: `/agents/${agent}/flows`, headers: as(world.owner.token), payload: { pipeline: 'digest', slug: 'daily', name: 'Daily' } });
    expect(flow.statusCode).toBe(201);
    return { ...world, agent, flowId: (flow.json() as { id: string }).id };
  }

  describe('pipelines', () => {
    it('creates, lists, reads, changes and deletes a pipeline; a bad step is 400 naming the field', async () => {
      const world = await tenantWorld(context, 'pipes-crud');
      const base = `/agents/${world.defaultAgent.slug}/pipelines`;
      const created = await app.inject({ method: 'POST', url: base, headers: as(world.owner.token), payload: digestPipeline });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ slug: 'digest', steps: [{ key: 'fetch', handler: 'json_items' }, { key: 'think', type: 'ai', config: {} }, { key: 'store' }], createdAt: expect.stringMatching(/Z$/) });
      expect((await app.inject({ method: 'GET', url: base, headers: as(world.owner.token) })).json().pipelines.map((pipeline: { slug: string }) => pipeline.slug)).toEqual(['digest']);
      expect((await app.inject({ method: 'GET', url: `${base}/digest`, headers: as(world.owner.token) })).json()).toMatchObject({ name: 'Digest' });
      const renamed = await app.inject({ method: 'PATCH', url: `${base}/digest`, headers: as(world.owner.token), payload: { name: 'Morning digest' } });
      expect(renamed.json()).toMatchObject({ slug: 'digest', name: 'Morning digest' });

      const badShape = await app.inject({ method: 'POST', url: base, headers: as(world.owner.token), payload: { ...digestPipeline, slug: 'other', steps: [{ key: 'x', type: 'teleport' }] } });
      expect(badShape.statusCode).toBe(400);
      expect(badShape.json().error).toMatchObject({ code: 'input.invalid', details: { issues: [expect.objectContaining({ path: expect.stringMatching(/^body\.steps\.0/) })] } });
      const unknownHandler = await outcome('POST', base, world.owner.token, { slug: 'other', name: 'Other', steps: [{ key: 'fetch', type: 'fetch', handler: 'nowhere' }] });
      expect(unknownHandler).toEqual([400, 'pipeline.invalid_steps']);
      expect(await outcome('POST', base, world.owner.token, digestPipeline)).toEqual([409, 'pipeline.slug_taken']);

      expect(await outcome('DELETE', `${base}/digest`, world.owner.token)).toEqual([204, null]);
      expect(await outcome('GET', `${base}/digest`, world.owner.token)).toEqual([404, 'pipeline.not_found']);
      // Nothing was written by the refusals.
      expect(await database.db.selectFrom('dm_pipelines').select('slug').where('tenant_id', '=', world.tenant.id).execute()).toEqual([]);
    });

    it('exports a pipeline with its flows and imports it back, refusing a taken slug unless asked to rename', async () => {
      const world = await withFlow('pipes-port');
      const base = `/agents/${world.agent}/pipelines`;
      const exported = await app.inject({ method: 'GET', url: `${base}/digest/export`, headers: as(world.owner.token) });
      expect(exported.statusCode).toBe(200);
      const document = exported.json() as { format: string; flows: { slug: string }[] };
      expect(document).toMatchObject({ format: 'data-machine.pipeline', version: 1, pipeline: { slug: 'digest' }, flows: [{ slug: 'daily', schedule: { kind: 'manual' } }] });
      expect(JSON.stringify(document)).not.toContain(world.flowId);

      expect(await outcome('POST', `${base}/import`, world.owner.token, document)).toEqual([409, 'pipeline.slug_taken']);
      const renamed = await app.inject({ method: 'POST', url: `${base}/import?onConflict=rename`, headers: as(world.owner.token), payload: document });
      expect(renamed.statusCode).toBe(201);
      expect(renamed.json()).toMatchObject({ pipeline: { slug: 'digest-2' }, flows: [{ slug: 'daily-2', paused: false }] });

      const bad = await app.inject({ method: 'POST', url: `${base}/import`, headers: as(world.owner.token), payload: { ...document, version: 7 } });
      expect(bad.json().error).toMatchObject({ code: 'input.invalid', details: { issues: [expect.objectContaining({ path: 'body.version' })] } });
      expect(await outcome('POST', `${base}/import?onConflict=merge`, world.owner.token, document)).toEqual([400, 'input.invalid']);
      // A pipeline with flows cannot be deleted from under them.
      expect(await outcome('DELETE', `${base}/digest`, world.owner.token)).toEqual([409, 'pipeline.in_use']);
    });
  });

  describe('flows', () => {
    it('creates, reads, lists, changes, reschedules, pauses, resumes and deletes a flow', async () => {
      const world = await withFlow('flows-crud');
      const base = `/agents/${world.agent}/flows`;
      const token = world.owner.token;
      expect((await app.inject({ method: 'GET', url: `${base}/daily`, headers: as(token) })).json()).toMatchObject({ id: world.flowId, paused: false, schedule: { kind: 'manual' }, nextRunAt: null });
      expect((await app.inject({ method: 'GET', url: `${base}?pipeline=digest`, headers: as(token) })).json().flows).toHaveLength(1);
      expect(await outcome('GET', `${base}?pipeline=nowhere`, token)).toEqual([404, 'pipeline.not_found']);

      const changed = await app.inject({ method: 'PATCH', url: `${base}/daily`, headers: as(token), payload: { name: 'Every day', stepConfig: { store: { handlerConfig: { collection: 'daily-notes' } } } } });
      expect(changed.json()).toMatchObject({ name: 'Every day', stepConfig: { store: { handlerConfig: { collection: 'daily-notes' } } } });
      const badConfig = await app.inject({ method: 'PATCH', url: `${base}/daily`, headers: as(token), payload: { stepConfig: { store: { handlerConfig: { collection: 'Not A Slug' } } } } });
      expect(badConfig.statusCode).toBe(400);
      expect(badConfig.json().error).toMatchObject({ code: 'flow.invalid_config', details: { issues: [expect.objectContaining({ path: 'steps.store.handlerConfig.collection' })] } });

      const scheduled = await app.inject({ method: 'PUT', url: `${base}/daily/schedule`, headers: as(token), payload: { kind: 'interval', every: 'hourly' } });
      expect(scheduled.json()).toMatchObject({ schedule: { kind: 'interval', every: 'hourly', catchUp: 'once' } });
      const badSchedule = await app.inject({ method: 'PUT', url: `${base}/daily/schedule`, headers: as(token), payload: { kind: 'interval', every: 'fortnightly' } });
      expect(badSchedule.json().error).toMatchObject({ code: 'input.invalid', details: { issues: [expect.objectContaining({ path: expect.stringMatching(/^body/) })] } });

      expect((await app.inject({ method: 'POST', url: `${base}/daily/pause`, headers: as(token) })).json()).toMatchObject({ paused: true });
      expect((await app.inject({ method: 'POST', url: `${base}/daily/resume`, headers: as(token) })).json()).toMatchObject({ paused: false });
      expect(await outcome('POST', base, token, { pipeline: 'digest', slug: 'daily', name: 'Again' })).toEqual([409, 'flow.slug_taken']);
      expect(await outcome('DELETE', `${base}/daily`, token)).toEqual([204, null]);
      expect(await outcome('GET', `${base}/daily`, token)).toEqual([404, 'flow.not_found']);
    });

    it('lets a viewer read a flow but not change or pause it, an operator pause but not edit, and hides it from the rest', async () => {
      const world = await withFlow('flows-access', ['editor', 'author']);
      const viewer = world.members.editor!;
      const operator = world.members.author!;
      await grant(context, world, world.agent, viewer.id, 'viewer');
      await grant(context, world, world.agent, operator.id, 'operator');
      const flow = `/agents/${world.agent}/flows/daily`;
      expect(await outcome('GET', flow, viewer.token)).toEqual([200, null]);
      expect(await outcome('PATCH', flow, viewer.token, { name: 'Mine' })).toEqual([403, 'access.denied']);
      expect(await outcome('POST', `${flow}/pause`, viewer.token)).toEqual([403, 'access.denied']);
      expect(await outcome('POST', `${flow}/pause`, operator.token)).toEqual([200, null]);
      expect(await outcome('PATCH', flow, operator.token, { name: 'Mine' })).toEqual([403, 'access.denied']);
      expect(await outcome('DELETE', flow, operator.token)).toEqual([403, 'access.denied']);
      // Queues are an operator's; pipelines, like flow settings, an agent admin's.
      const prompts = `${flow}/steps/think/queues/prompt`;
      expect(await outcome('POST', prompts, viewer.token, { body: 'from a viewer' })).toEqual([403, 'access.denied']);
      expect(await outcome('POST', prompts, operator.token, { body: 'from an operator' })).toEqual([201, null]);
      expect(await outcome('DELETE', prompts, viewer.token)).toEqual([403, 'access.denied']);
      expect(await outcome('POST', `/agents/${world.agent}/pipelines`, operator.token, { ...digestPipeline, slug: 'mine' })).toEqual([403, 'access.denied']);
      expect(await outcome('GET', `/agents/${world.agent}/pipelines/digest/export`, viewer.token)).toEqual([200, null]);

      // Another tenant's owner: the tenant is missing to them, and so is the agent in their own tenant.
      const stranger = await tenantWorld(context, 'flows-access-other');
      expect(await outcome('GET', flow, stranger.owner.token, undefined, { 'x-tenant': world.tenant.slug })).toEqual([404, 'tenant.not_found']);
      expect(await outcome('GET', `/agents/${world.defaultAgent.id}/flows/daily`, stranger.owner.token)).toEqual([404, 'agent.not_found']);
      expect(await outcome('PATCH', `/agents/${world.defaultAgent.id}/flows/daily`, stranger.owner.token, { name: 'Hacked' })).toEqual([404, 'agent.not_found']);
      const unchanged = await app.inject({ method: 'GET', url: flow, headers: as(world.owner.token) });
      expect(unchanged.json()).toMatchObject({ name: 'Daily', paused: true });
    });
  });

  describe('queues', () => {
    it('adds, lists, reorders, moves and clears prompt and config-patch queues', async () => {
      const world = await withFlow('queues-http');
      const token = world.owner.token;
      const prompts = `/agents/${world.agent}/flows/daily/steps/think/queues/prompt`;
      const ids: string[] = [];
      for (const text of ['first', 'second', 'third']) {
        const added = await app.inject({ method: 'POST', url: prompts, headers: as(token), payload: { body: text } });
        expect(added.statusCode).toBe(201);
        ids.push((added.json() as { id: string }).id);
      }
      const order = [ids[2], ids[0], ids[1]];
      const reordered = await app.inject({ method: 'PUT', url: `${prompts}/order`, headers: as(token), payload: { entryIds: order } });
      expect(reordered.json().entries.map((entry: { body: string }) => entry.body)).toEqual(['third', 'first', 'second']);
      const moved = await app.inject({ method: 'POST', url: `${prompts}/entries/${ids[1]}/move`, headers: as(token), payload: { index: 0 } });
      expect(moved.json().entries.map((entry: { body: string }) => entry.body)).toEqual(['second', 'third', 'first']);
      expect(await outcome('PUT', `${prompts}/order`, token, { entryIds: [ids[0]] })).toEqual([400, 'input.invalid']);
      expect(await outcome('POST', `${prompts}/entries/qen_missing/move`, token, { index: 0 })).toEqual([404, 'queue.entry_not_found']);
      expect((await app.inject({ method: 'GET', url: prompts, headers: as(token) })).json().entries).toHaveLength(3);

      const patches = `/agents/${world.agent}/flows/daily/steps/fetch/queues/config_patch`;
      expect((await app.inject({ method: 'POST', url: patches, headers: as(token), payload: { body: { keyField: 'slug' } } })).json()).toMatchObject({ queue: 'config_patch', body: { keyField: 'slug' } });
      expect(await outcome('POST', patches, token, { body: 'a prompt is not a patch' })).toEqual([400, 'input.invalid']);
      expect(await outcome('POST', `/agents/${world.agent}/flows/daily/steps/nowhere/queues/prompt`, token, { body: 'x' })).toEqual([404, 'queue.unknown_step']);
      expect(await outcome('POST', `/agents/${world.agent}/flows/daily/steps/think/queues/backlog`, token, { body: 'x' })).toEqual([400, 'input.invalid']);

      const cleared = await app.inject({ method: 'DELETE', url: prompts, headers: as(token) });
      expect(cleared.json()).toEqual({ cleared: 3 });
      expect((await app.inject({ method: 'GET', url: prompts, headers: as(token) })).json()).toEqual({ entries: [] });
    });
  });

  describe('jobs', () => {
    it('lists jobs newest first by page, filtered by flow, status and creation time; shows one, its children and its log; cancels it once', async () => {
      const world = await withFlow('jobs-http');
      const token = world.owner.token;
      const base = `/agents/${world.agent}/jobs`;
      const hours = [9, 10, 11];
      const jobs = [];
      for (const hour of hours) {
        setNow(new Date(Date.UTC(2026, 10, 30, hour)));
        jobs.push(await asEngine(database, world.tenant.id, async (trx) => (await createJob(context, trx, { flowId: world.flowId, source: 'schedule', idempotencyKey: `h${hour}` })).job));
      }
      const [first, second, third] = jobs;
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await app.inject({ method: 'GET', url: `${base}?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, headers: as(token) });
        const body = page.json() as { jobs: { id: string }[]; nextCursor: string | null };
        seen.push(...body.jobs.map((job) => job.id));
        cursor = body.nextCursor;
      } while (cursor !== null);
      expect(new Set(seen)).toEqual(new Set(jobs.map((job) => job!.id)));
      expect(seen).toHaveLength(3);

      const since = new Date(Date.UTC(2026, 10, 30, 10)).toISOString();
      const before = new Date(Date.UTC(2026, 10, 30, 11)).toISOString();
      const ranged = await app.inject({ method: 'GET', url: `${base}?createdSince=${since}&createdBefore=${before}&flow=daily&status=pending`, headers: as(token) });
      expect(ranged.json().jobs.map((job: { id: string }) => job.id)).toEqual([second!.id]);
      expect((await app.inject({ method: 'GET', url: `${base}?status=failed`, headers: as(token) })).json().jobs).toEqual([]);
      const badQuery = await app.inject({ method: 'GET', url: `${base}?status=exploded&createdSince=yesterday`, headers: as(token) });
      expect(badQuery.statusCode).toBe(400);
      expect(badQuery.json().error.details.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(['query.createdSince', 'query.status']);
      expect(await outcome('GET', `${base}?cursor=garbage`, token)).toEqual([400, 'input.invalid']);

      await asEngine(database, world.tenant.id, async (trx) => {
        await createChildJobs(context, trx, first!.id, [{ itemKey: 'a' }, { itemKey: 'b' }]);
        await writeJobLog(context, trx, { jobId: first!.id, level: 'info', message: 'fetched 2 items' });
        await writeJobLog(context, trx, { jobId: first!.id, level: 'warn', message: 'slow publish' });
      });
      expect((await app.inject({ method: 'GET', url: `${base}/${first!.id}`, headers: as(token) })).json()).toMatchObject({ id: first!.id, status: 'pending', children: { total: 2 } });
      const children = (await app.inject({ method: 'GET', url: `${base}/${first!.id}/children`, headers: as(token) })).json();
      expect(children.jobs.map((job: { itemKey: string }) => job.itemKey).sort()).toEqual(['a', 'b']);
      const logs = (await app.inject({ method: 'GET', url: `${base}/${first!.id}/logs?limit=1`, headers: as(token) })).json();
      expect(logs.lines.map((line: { message: string }) => line.message)).toEqual(['fetched 2 items']);
      const rest = (await app.inject({ method: 'GET', url: `${base}/${first!.id}/logs?cursor=${logs.nextCursor}`, headers: as(token) })).json();
      expect(rest).toMatchObject({ lines: [{ level: 'warn', message: 'slow publish' }], nextCursor: null });

      const cancelled = await app.inject({ method: 'POST', url: `${base}/${third!.id}/cancel`, headers: as(token) });
      expect(cancelled.json()).toMatchObject({ status: 'cancelled', statusReason: 'cancelled_by_operator' });
      expect(await outcome('POST', `${base}/${third!.id}/cancel`, token)).toEqual([409, 'job.ended']);
      expect(await outcome('GET', `${base}/job_missing`, token)).toEqual([404, 'job.not_found']);
    });

    it('shows jobs to an operator, not to a viewer; a job of another agent is missing', async () => {
      const world = await withFlow('jobs-http-access', ['editor', 'author']);
      await grant(context, world, world.agent, world.members.editor!.id, 'viewer');
      await grant(context, world, world.agent, world.members.author!.id, 'operator');
      const job = await asEngine(database, world.tenant.id, async (trx) => (await createJob(context, trx, { flowId: world.flowId, source: 'manual' })).job);
      // `logs.read` needs the operator role and the view_logs capability: an author has no view_logs, an editor is only a viewer here.
      expect(await outcome('GET', `/agents/${world.agent}/jobs/${job.id}`, world.members.editor!.token)).toEqual([403, 'access.denied']);
      expect(await outcome('POST', `/agents/${world.agent}/jobs/${job.id}/cancel`, world.members.editor!.token)).toEqual([403, 'access.denied']);
      expect(await outcome('POST', `/agents/${world.agent}/jobs/${job.id}/cancel`, world.members.author!.token)).toEqual([200, null]);
      const other = await app.inject({ method: 'POST', url: '/agents', headers: as(world.owner.token), payload: { slug: 'other-bot', name: 'Other' } });
      expect(other.statusCode).toBe(201);
      expect(await outcome('GET', `/agents/other-bot/jobs/${job.id}`, world.owner.token)).toEqual([404, 'job.not_found']);
    });
  });

  describe('handlers and transport', () => {
    it('lists the handlers with their configuration JSON schemas, to any authenticated caller', async () => {
      const world = await tenantWorld(context, 'handlers-http');
      const listed = await app.inject({ method: 'GET', url: '/handlers', headers: as(world.owner.token) });
      const handlers = listed.json().handlers as { slug: string; kind: string; configSchema: unknown }[];
      // Every handler the product ships (the server offers the default registry).
      expect(handlers.map((handler) => [handler.slug, handler.kind]).sort()).toEqual([
        ['files', 'fetch'],
        ['http_json', 'fetch'],
        ['inbound_webhook', 'fetch'],
        ['json_items', 'fetch'],
        ['records', 'publish'],
        ['rss', 'fetch'],
        ['webhook', 'publish'],
        ['wordpress', 'publish'],
      ]);
      expect(handlers.find((handler) => handler.slug === 'records')?.configSchema).toMatchObject({ type: 'object', properties: { collection: { type: 'string' } }, required: ['collection'] });
      expect((await app.inject({ method: 'GET', url: '/handlers?kind=publish', headers: as(world.owner.token) })).json().handlers).toHaveLength(3);
      expect((await app.inject({ method: 'GET', url: '/handlers' })).statusCode).toBe(401);
    });

    it('answers an oversized body with 413 request.too_large in the one error shape, writing nothing', async () => {
      const world = await tenantWorld(context, 'too-large');
      const huge = { ...digestPipeline, name: 'x'.repeat(1_100_000) };
      const response = await app.inject({ method: 'POST', url: `/agents/${world.defaultAgent.slug}/pipelines`, headers: as(world.owner.token), payload: huge });
      expect(response.statusCode).toBe(413);
      expect(response.json()).toEqual({ error: { code: 'request.too_large', message: expect.any(String) } });
      expect(await database.db.selectFrom('dm_pipelines').select('id').where('tenant_id', '=', world.tenant.id).execute()).toEqual([]);
    });

    it('documents every automation route in the OpenAPI document, with bearer security', async () => {
      const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { security?: unknown }>> };
      expect(Object.keys(document.paths)).toEqual(
        expect.arrayContaining([
          '/handlers',
          '/agents/{agent}/pipelines',
          '/agents/{agent}/pipelines/import',
          '/agents/{agent}/pipelines/{pipeline}',
          '/agents/{agent}/pipelines/{pipeline}/export',
          '/agents/{agent}/flows',
          '/agents/{agent}/flows/{flow}',
          '/agents/{agent}/flows/{flow}/schedule',
          '/agents/{agent}/flows/{flow}/pause',
          '/agents/{agent}/flows/{flow}/resume',
          '/agents/{agent}/flows/{flow}/steps/{stepKey}/queues/{queue}',
          '/agents/{agent}/flows/{flow}/steps/{stepKey}/queues/{queue}/order',
          '/agents/{agent}/jobs',
          '/agents/{agent}/jobs/{job}',
          '/agents/{agent}/jobs/{job}/children',
          '/agents/{agent}/jobs/{job}/effects',
          '/agents/{agent}/jobs/{job}/logs',
          '/agents/{agent}/jobs/{job}/cancel',
        ]),
      );
      expect(document.paths['/agents/{agent}/flows/{flow}']?.patch?.security).toEqual([{ bearer: [] }]);
    });
  });
});
