import { describeEachDatabase, startHttpFixture, startWordPressServer, type HttpFixture, type WordPressServer } from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { localHttp } from '../../test/support/handler-fixture';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { undoToEnd as undoToEndOf } from '../../test/support/undo-fixture';
import { flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { startFlowRun } from '../engine/flow-run';
import { createHandlerSteps } from '../engine/handler-steps';
import { createJobEffectsRecorder } from '../engine/job-effects';
import { handlerEffectsFor } from '../handlers/handler-effect';
import type { JobEngine } from '../engine/job-engine';
import { createFlow } from '../flows/flow-repository';
import { createJob } from '../jobs/job-lifecycle';
import { createHandlerRegistry, type HandlerRegistry } from '../handlers/handler-registry';
import type { HandlerHttpClient } from '../handlers/http/handler-http-client';
import { jsonItemsHandler } from '../handlers/json-items-handler';
import { createWordPressHandler } from '../handlers/wordpress/wordpress-handler';
import { createPipeline } from '../pipelines/pipeline-repository';
import { inTenant } from '../scope/tenant-transaction';
import type { Scope } from '../scope/scope';
import type { Undo } from './undo';
import { getUndoReport, listUndos, requestUndo } from './undo-repository';
import { runUndo } from './undo-runner';
import { createUndoWorker, type UndoWorker } from './undo-worker';

const password = 'abcd efgh ijkl mnop qrst uvwx';

await describeEachDatabase<DataMachineDatabase>('undo of a job', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let wordpress: WordPressServer;
  let images: HttpFixture;
  let http: HandlerHttpClient;
  let handlers: HandlerRegistry;
  let undos: UndoWorker;
  let stop: () => Promise<void>;
  // One agent `bot` with a pipeline fetch -> upsert to WordPress; each test runs flows of its own on it.
  let world: FlowWorld;

  beforeAll(async () => {
    context = await migratedContext(database.db);
    wordpress = await startWordPressServer();
    images = await startHttpFixture();
    images.route('GET', '/sunset.png', () => ({ headers: { 'content-type': 'image/png' }, body: Buffer.from('89504e470d0a1a0a', 'hex') }));
    http = localHttp();
    handlers = createHandlerRegistry([jsonItemsHandler, createWordPressHandler(context)]);
    const secrets = { forStep: async () => password };
    engine = engineOn(database);
    ({ stop } = await runningWorker(context, engine, handlers, createHandlerSteps(handlers, { http, secrets }), { batchSize: 8 }));
    undos = createUndoWorker({ context, engine, handlers, http, secrets });
    await undos.start();
    world = await flowWorld(context, 'undo');
    await createPipeline(context, world.owner, handlers, 'bot', {
      slug: 'main',
      name: 'Main',
      steps: [
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
        { key: 'post', type: 'upsert', handler: 'wordpress', config: {} },
      ],
    });
  });
  afterAll(async () => {
    await undos.stop();
    await stop();
    await http.close();
    await images.close();
    await wordpress.close();
  });

  /** A flow `slug` of agent `bot`: fetch `items` -> publish each to the WordPress fixture (the item id is its key), filed under `categories`. */
  async function publishingFlow(slug: string, items: readonly { id: string; title: string; featuredImageUrl?: string }[], categories: readonly string[] = []): Promise<string> {
    const flow = await createFlow(context, world.owner, handlers, 'bot', {
      pipeline: 'main',
      slug,
      name: slug,
      maxItems: 10,
      stepConfig: {
        fetch: { handlerConfig: { items: items.map((item) => ({ ...item, content: `<p>${item.title}</p>` })) } },
        post: { handlerConfig: { siteUrl: wordpress.url, username: 'editor', status: 'publish', categories } },
      },
    });
    return flow.id;
  }

  const runToEnd = async (flowId: string) => {
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenant.id, flowId, source: 'manual' });
    const ended = await jobReaches(context, world.tenant.id, job.id, ['completed', 'failed']);
    expect(ended.status).toBe('completed');
    return job.id;
  };

  const undoToEnd = (scope: Scope, jobId: string): Promise<Undo> => undoToEndOf(context, engine, undos, scope, jobId);

  const report = async (jobId: string, undoId: string) =>
    (await getUndoReport(context, world.owner, 'bot', jobId, undoId)).effects.map((effect) => ({ kind: effect.kind, outcome: effect.outcome, reason: effect.reason }));
  const postTitled = (title: string) => wordpress.posts.find((post) => post.title === title);

  it('deletes the post a job published and the category it created, newest effect first', async () => {
    const jobId = await runToEnd(await publishingFlow('one', [{ id: 'one', title: 'Undo one' }], ['Undo One Category']));
    expect(postTitled('Undo one')).toBeDefined();
    const undo = await undoToEnd(world.operator, jobId);
    expect({ status: undo.status, counts: undo.counts }).toEqual({ status: 'completed', counts: { reverted: 2, skipped: 0, failed: 0 } });
    expect(await report(jobId, undo.id)).toEqual([
      { kind: 'wordpress_post_created', outcome: 'reverted', reason: null },
      { kind: 'wordpress_term_created', outcome: 'reverted', reason: null },
    ]);
    expect(postTitled('Undo one')).toBeUndefined();
    expect(wordpress.terms.some((term) => term.name === 'Undo One Category')).toBe(false);
    expect(wordpress.requests.some((request) => request.method === 'DELETE' && request.query.get('force') === 'true' && request.path.includes('/posts/'))).toBe(true);
    // Delivered again (pg-boss re-delivers after a lost worker): an ended undo is left as it is, nothing is sent.
    const sent = wordpress.requests.length;
    const again = await runUndo({ context, handlers, http }, { tenantId: world.tenant.id, undoId: undo.id });
    expect([again?.status, again?.counts, wordpress.requests.length]).toEqual(['completed', undo.counts, sent]);
  });

  it("covers a fan-out parent's children, and goes on past an effect whose remote fails", async () => {
    const flowId = await publishingFlow('fan', [
      { id: 'fan-a', title: 'Fan a' },
      { id: 'fan-b', title: 'Fan b' },
      { id: 'fan-c', title: 'Fan c' },
    ]);
    const parentId = await runToEnd(flowId);
    const children = await database.db.selectFrom('dm_jobs').select('id').where('parent_job_id', '=', parentId).execute();
    expect(children).toHaveLength(3);
    const failing = postTitled('Fan b');
    wordpress.failNext('DELETE', `/posts/${failing?.id}`);
    const undo = await undoToEnd(world.operator, parentId);
    expect({ status: undo.status, reason: undo.statusReason, counts: undo.counts }).toEqual({ status: 'failed', reason: 'effects_failed:1', counts: { reverted: 2, skipped: 0, failed: 1 } });
    expect(['Fan a', 'Fan b', 'Fan c'].map((title) => postTitled(title) !== undefined)).toEqual([false, true, false]);
    const lines = (await getUndoReport(context, world.owner, 'bot', parentId, undo.id)).effects;
    expect(lines.find((line) => line.outcome === 'failed')?.error?.code).toBe('handler.remote_failed');
    expect(new Set(lines.map((line) => line.jobId))).toEqual(new Set(children.map((child) => child.id)));

    // Undoing again (a minute later) tries only what failed; what was reverted is reported, not reverted twice.
    context.setNow(new Date(context.now().getTime() + 60_000));
    const again = await undoToEnd(world.operator, parentId);
    expect({ status: again.status, counts: again.counts }).toEqual({ status: 'completed', counts: { reverted: 1, skipped: 2, failed: 0 } });
    expect((await report(parentId, again.id)).filter((line) => line.outcome === 'skipped').map((line) => line.reason)).toEqual(['already_reverted', 'already_reverted']);
    expect(postTitled('Fan b')).toBeUndefined();
    expect((await listUndos(context, world.operator, 'bot', parentId)).map((entry) => entry.id)).toEqual([again.id, undo.id]);
  });

  it('skips a post edited on the site after it was published', async () => {
    const jobId = await runToEnd(await publishingFlow('edited', [{ id: 'edited', title: 'Edited later' }]));
    const post = postTitled('Edited later');
    const edit = await fetch(`${wordpress.url}/wp-json/wp/v2/posts/${post?.id}`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`editor:${password}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content: '<p>An editor rewrote this.</p>' }),
    });
    expect(edit.status).toBe(200);
    const undo = await undoToEnd(world.operator, jobId);
    expect({ status: undo.status, counts: undo.counts }).toEqual({ status: 'completed', counts: { reverted: 0, skipped: 1, failed: 0 } });
    expect(await report(jobId, undo.id)).toEqual([{ kind: 'wordpress_post_created', outcome: 'skipped', reason: 'changed_remotely' }]);
    expect(postTitled('Edited later')?.content).toBe('<p>An editor rewrote this.</p>');
  });

  it('restores the previous fields of a post a later job updated', async () => {
    await runToEnd(await publishingFlow('update-first', [{ id: 'shared', title: 'Original title' }]));
    // A second flow of the agent publishes the same item key to the same site: it updates that post.
    const updateJob = await runToEnd(await publishingFlow('update-second', [{ id: 'shared', title: 'Rewritten title' }]));
    expect(postTitled('Rewritten title')).toBeDefined();
    const undo = await undoToEnd(world.operator, updateJob);
    expect(await report(updateJob, undo.id)).toEqual([{ kind: 'wordpress_post_updated', outcome: 'reverted', reason: null }]);
    expect(postTitled('Original title')).toMatchObject({ content: '<p>Original title</p>', status: 'publish' });
    expect(postTitled('Rewritten title')).toBeUndefined();
  });

  it('refuses a viewer with the typed denial, a live job and a second undo while one is pending', async () => {
    const flowId = await publishingFlow('refused', [{ id: 'refused', title: 'Refused' }]);
    const jobId = await runToEnd(flowId);
    expect(await codeOf(requestUndo(context, engine, world.viewer, 'bot', jobId))).toBe('access.denied');
    expect(await codeOf(requestUndo(context, engine, world.member, 'bot', jobId))).toBe('agent.not_found');
    expect(await codeOf(requestUndo(context, engine, world.operator, 'bot', 'job_missing'))).toBe('job.not_found');
    await undos.stop();
    try {
      const pending = await requestUndo(context, engine, world.operator, 'bot', jobId);
      expect(pending.status).toBe('pending');
      expect(await codeOf(requestUndo(context, engine, world.operator, 'bot', jobId))).toBe('undo.in_progress');
      expect(await codeOf(getUndoReport(context, world.operator, 'bot', jobId, 'undo_missing'))).toBe('undo.not_found');
    } finally {
      undos = createUndoWorker({ context, engine, handlers, http, secrets: { forStep: async () => password } });
      await undos.start();
    }
    // A job nobody has run yet (created without its pg-boss job): not ended, so not undoable.
    const { job: live } = await inTenant(context, world.tenant.id, null, (trx) => createJob(context, trx, { flowId, source: 'manual' }));
    expect(await codeOf(requestUndo(context, engine, world.operator, 'bot', live.id))).toBe('undo.job_live');
  });

  it('reports a delivered webhook skipped (not_reversible) and reverts the rest of the job', async () => {
    const jobId = await runToEnd(await publishingFlow('webhook', [{ id: 'webhook', title: 'Beside a webhook' }]));
    // A webhook the same job delivered before it published (its effect as the webhook handler records it).
    const recorder = createJobEffectsRecorder(context, world.tenant.id, jobId);
    await handlerEffectsFor(recorder, 'notify', 'webhook').record({ kind: 'webhook_delivered', ref: 'delivery:x', reversible: false, undo: { url: 'https://hooks.example/x', status: 200 } });
    const undo = await undoToEnd(world.operator, jobId);
    expect(await report(jobId, undo.id)).toEqual([
      { kind: 'webhook_delivered', outcome: 'skipped', reason: 'not_reversible' },
      { kind: 'wordpress_post_created', outcome: 'reverted', reason: null },
    ]);
    expect(undo.status).toBe('completed');
  });

  it('deletes the featured image a job uploaded, after the post that used it; an existing category stays', async () => {
    wordpress.addTerm('category', 'Kept Category');
    const jobId = await runToEnd(await publishingFlow('image', [{ id: 'image', title: 'With image', featuredImageUrl: `${images.url}/sunset.png` }], ['Kept Category']));
    const media = wordpress.media.at(-1);
    expect(postTitled('With image')?.featured_media).toBe(media?.id);
    const undo = await undoToEnd(world.operator, jobId);
    expect(await report(jobId, undo.id)).toEqual([
      { kind: 'wordpress_post_created', outcome: 'reverted', reason: null },
      { kind: 'wordpress_media_uploaded', outcome: 'reverted', reason: null },
    ]);
    expect([wordpress.media.some((item) => item.id === media?.id), wordpress.terms.some((term) => term.name === 'Kept Category')]).toEqual([false, true]);
  });
});
