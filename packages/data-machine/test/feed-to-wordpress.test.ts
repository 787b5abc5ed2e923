import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import {
  describeEachDatabase,
  startHttpFixture,
  startModelServer,
  startWordPressServer,
  textReply,
  toolCallReply,
  type ChatCompletionRequest,
  type HttpFixture,
  type ModelReply,
  type ModelServer,
  type WordPressServer,
} from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { updateAgent } from '../src/agents/agent-repository';
import { resolvePendingAction, type ReleaseJob } from '../src/approvals/approval-resolution';
import { listPendingActions } from '../src/approvals/pending-action-repository';
import type { AgentToolModes } from '../src/approvals/tool-mode';
import type { DataMachineDatabase } from '../src/database/data-machine-database';
import { startFlowRun } from '../src/engine/flow-run';
import { createHandlerSteps } from '../src/engine/handler-steps';
import type { JobEngine } from '../src/engine/job-engine';
import type { JobWorker } from '../src/engine/job-worker';
import { signalJob } from '../src/engine/job-signals';
import { createFlow } from '../src/flows/flow-repository';
import { createDefaultHandlerRegistry } from '../src/handlers/built-in-handlers';
import type { HandlerRegistry } from '../src/handlers/handler-registry';
import type { HandlerHttpClient } from '../src/handlers/http/handler-http-client';
import { createPipeline } from '../src/pipelines/pipeline-repository';
import { createScheduler, type Scheduler } from '../src/schedules/scheduler';
import { setAgentSecret } from '../src/secrets/agent-secrets';
import { createHandlerSecrets, handlerSecretsPurpose } from '../src/secrets/handler-secrets';
import { createSecretBox } from '../src/secrets/secret-box';
import { createAiStep } from '../src/steps/ai/ai-step';
import type { PipelineStepInput } from '../src/steps/step';
import { getUndoReport } from '../src/undo/undo-repository';
import { createUndoWorker, type UndoWorker } from '../src/undo/undo-worker';
import { localHttp } from './support/handler-fixture';
import { migratedContext, type TestContext } from './support/identity-fixture';
import { engineOn, eventually, jobReaches, runningWorker } from './support/job-engine-fixture';
import { flowWorld, type FlowWorld } from './support/pipeline-fixture';
import { recordingLogger } from './support/scheduler-fixture';
import { undoToEnd } from './support/undo-fixture';

const password = 'abcd efgh ijkl mnop qrst uvwx';
const hour = 60 * 60_000;

/** An RSS 2.0 document with `items`, newest first, as a feed serves it. */
function rss(items: readonly { guid: string; title: string; body: string; date: string }[]): string {
  const entries = items.map(
    (item) => `<item><guid isPermaLink="false">${item.guid}</guid><title>${item.title}</title><link>https://news.example/${item.guid}</link>` +
      `<description><![CDATA[${item.body}]]></description><pubDate>${new Date(item.date).toUTCString()}</pubDate></item>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>News</title><link>https://news.example/</link><description>News</description>${entries.join('')}</channel></rss>`;
}

/**
 * The rewriting model: asked about an item, it calls the publish tool it is
 * offered with a rewritten title and the item's text; once a tool result
 * (or a rejection) is in, it ends with a short text.
 */
function rewritingModel(request: ChatCompletionRequest): ModelReply {
  const last = request.messages.at(-1);
  if (last?.role === 'tool') return textReply('Done.');
  const user = String(request.messages.find((message) => message.role === 'user')?.content ?? '');
  const item = JSON.parse(user.slice(user.indexOf('Item:\n') + 'Item:\n'.length)) as { title: string; content: string | null; summary: string | null };
  const tool = (request.tools as { function: { name: string } }[]).map((entry) => entry.function.name).find((name) => name.startsWith('publish_'));
  if (tool === undefined) throw new Error('the model was offered no publish tool');
  return toolCallReply({ name: tool, arguments: { title: `Rewritten: ${item.title}`, content: `<p>${item.content ?? item.summary ?? ''}</p>` } });
}

/** fetch (rss) -> rewrite (ai; its publish tool is the next step) -> publish (wordpress). */
const feedToWordPress: readonly PipelineStepInput[] = [
  { key: 'fetch', type: 'fetch', handler: 'rss' },
  { key: 'rewrite', type: 'ai', config: { prompt: 'Rewrite this news item for our site.' } },
  { key: 'publish', type: 'publish', handler: 'wordpress' },
];

await describeEachDatabase<DataMachineDatabase>('feed -> ai rewrite -> WordPress, end to end', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let model: ModelServer;
  let feeds: HttpFixture;
  let wordpress: WordPressServer;
  let http: HandlerHttpClient;
  let handlers: HandlerRegistry;
  let undos: UndoWorker;
  let scheduler: Scheduler;
  let worker: JobWorker;
  let stop: () => Promise<void>;
  let release: ReleaseJob;
  const box = createSecretBox('an end-to-end test key of at least 32 characters', handlerSecretsPurpose);
  /** The feed each path serves; a test changes it between runs. */
  const served = new Map<string, string>();
  let scheduledAgent: { world: FlowWorld; flowId: string };
  let approvalAgent: { world: FlowWorld; flowId: string };
  /** Jobs the scheduler started, in order. */
  const scheduled: string[] = [];

  beforeAll(async () => {
    context = await migratedContext(database.db);
    // The engine, the model and the feed dates run on real time; the scheduler ticks at the instants the test gives it.
    context.setNow(new Date());
    model = await startModelServer({ handler: rewritingModel });
    feeds = await startHttpFixture();
    for (const path of ['/scheduled.xml', '/approval.xml']) {
      feeds.route('GET', path, () => ({ headers: { 'content-type': 'application/rss+xml' }, body: served.get(path) ?? rss([]) }));
    }
    wordpress = await startWordPressServer();
    http = localHttp();
    handlers = createDefaultHandlerRegistry(context);
    // The application password comes from the agent's stored secret, never from the test.
    const secrets = createHandlerSecrets(context, box);
    engine = engineOn(database);
    const ai = createAiStep({ context, transcripts: createPostgresTranscriptStore({ db: database.database.db }), provider: createOpenAIProvider({ apiKey: 'test-key', baseURL: model.baseURL, model: 'test-model', maxRetries: 0 }), handlers, http, secrets });
    ({ worker, stop } = await runningWorker(context, engine, handlers, { ...createHandlerSteps(handlers, { http, secrets }), ai }, { batchSize: 4 }));
    undos = createUndoWorker({ context, engine, handlers, http, secrets });
    await undos.start();
    scheduler = createScheduler({
      context,
      logger: recordingLogger(),
      starter: async (request) => {
        const { job } = await startFlowRun(context, engine, { tenantId: request.tenantId, flowId: request.flowId, source: request.source, idempotencyKey: request.idempotencyKey });
        scheduled.push(job.id);
        return { jobId: job.id };
      },
    });
    release = (trx, { jobId, signal, payload }) => signalJob(context, engine, trx, { jobId, signal, payload }).then(() => undefined);
    // Both agents are made once, before the scenarios: a scenario is its runs, not its setup.
    scheduledAgent = await publishingAgent('e2e-sched', '/scheduled.xml', 'hourly');
    // The same flow, started by hand, whose agent must ask a person before its publish tool runs.
    approvalAgent = await publishingAgent('e2e-appr', '/approval.xml', 'manual', { tools: { publish_publish: 'preview' } });
  });
  afterAll(async () => {
    await scheduler.stop();
    await undos.stop();
    await stop();
    await http.close();
    await feeds.close();
    await wordpress.close();
    await model.close();
  });

  /**
   * An agent `bot` in a new tenant with its WordPress application password stored and `toolModes`,
   * the pipeline, and a flow reading `feedPath` on `schedule`.
   */
  async function publishingAgent(slug: string, feedPath: string, schedule: 'hourly' | 'manual', toolModes: AgentToolModes = {}): Promise<{ world: FlowWorld; flowId: string }> {
    const world = await flowWorld(context, slug);
    await setAgentSecret(context, box, world.owner, 'bot', 'wordpress_application_password', password);
    await updateAgent(context, world.owner, 'bot', { config: { toolPolicy: { allowAutonomousWrites: true }, toolModes } });
    await createPipeline(context, world.owner, handlers, 'bot', { slug: 'news', name: 'News', steps: feedToWordPress });
    const flow = await createFlow(context, world.owner, handlers, 'bot', {
      pipeline: 'news',
      slug: 'news',
      name: 'News',
      maxItems: 10,
      schedule: schedule === 'hourly' ? { kind: 'interval', every: 'hourly' } : { kind: 'manual' },
      stepConfig: {
        fetch: { handlerConfig: { url: `${feeds.url}${feedPath}`, maxItems: 10 } },
        publish: { handlerConfig: { siteUrl: wordpress.url, username: 'editor', status: 'publish' } },
      },
    });
    return { world, flowId: flow.id };
  }

  const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
  const titles = () => wordpress.posts.map((post) => post.title).sort();
  const postCreations = () => wordpress.requests.filter((request) => request.method === 'POST' && request.path === '/wp-json/wp/v2/posts').length;
  const childrenOf = (parentId: string) => database.db.selectFrom('dm_jobs').select(['id', 'status']).where('parent_job_id', '=', parentId).execute();

  /** One scheduler pass at `now`, and the worker woken for what it started (rather than left to its next poll). */
  const tick = async (now: Date) => {
    const report = await scheduler.tick(now);
    worker.notify();
    return report;
  };

  // Scenarios 1 and 2 share the scheduled flow: the undo reverses what its first run published.
  let firstRun: string;

  it('publishes each new feed item exactly once across scheduled runs', async () => {
    const { world, flowId } = scheduledAgent;
    served.set('/scheduled.xml', rss([
      { guid: 'story-2', title: 'Second story', body: 'Two happened.', date: ago(2 * hour) },
      { guid: 'story-1', title: 'First story', body: 'One happened.', date: ago(3 * hour) },
    ]));
    const flow = await database.db.selectFrom('dm_flows').select('next_run_at').where('id', '=', flowId).executeTakeFirstOrThrow();
    const firstTick = new Date((flow.next_run_at as Date).getTime() + 1_000);

    // First tick: the run fans out to one child per item; each child's model call publishes its item.
    expect(await tick(firstTick)).toMatchObject({ leader: true, started: 1 });
    firstRun = scheduled.at(-1) as string;
    expect((await jobReaches(context, world.tenant.id, firstRun, ['completed', 'completed_no_items', 'failed'])).status).toBe('completed');
    const children = await childrenOf(firstRun);
    expect(children.map((child) => child.status)).toEqual(['completed', 'completed']);
    expect(titles()).toEqual(['Rewritten: First story', 'Rewritten: Second story']);
    expect(wordpress.posts.find((post) => post.title === 'Rewritten: First story')?.content).toBe('<p>One happened.</p>');

    // An hour later the feed is unchanged: nothing new.
    expect(await tick(new Date(firstTick.getTime() + hour))).toMatchObject({ started: 1 });
    const secondRun = scheduled.at(-1) as string;
    expect(secondRun).not.toBe(firstRun);
    expect((await jobReaches(context, world.tenant.id, secondRun, ['completed', 'completed_no_items', 'failed'])).status).toBe('completed_no_items');
    expect(await childrenOf(secondRun)).toEqual([]);

    // A new item appears: the third run publishes only it.
    served.set('/scheduled.xml', rss([
      { guid: 'story-3', title: 'Third story', body: 'Three happened.', date: ago(hour) },
      { guid: 'story-2', title: 'Second story', body: 'Two happened.', date: ago(2 * hour) },
      { guid: 'story-1', title: 'First story', body: 'One happened.', date: ago(3 * hour) },
    ]));
    expect(await tick(new Date(firstTick.getTime() + 2 * hour))).toMatchObject({ started: 1 });
    const thirdRun = scheduled.at(-1) as string;
    const third = await jobReaches(context, world.tenant.id, thirdRun, ['completed', 'completed_no_items', 'failed']);
    expect(third.status).toBe('completed');
    // One new item: the run handles it itself, without children.
    expect(await childrenOf(thirdRun)).toEqual([]);
    expect(titles()).toEqual(['Rewritten: First story', 'Rewritten: Second story', 'Rewritten: Third story']);
    expect(postCreations()).toBe(3);
  });

  it("undoes the first run (a fan-out parent): its posts leave the site, each effect reported reverted", async () => {
    const undo = await undoToEnd(context, engine, undos, scheduledAgent.world.operator, firstRun);
    expect({ status: undo.status, counts: undo.counts }).toEqual({ status: 'completed', counts: { reverted: 2, skipped: 0, failed: 0 } });
    const report = await getUndoReport(context, scheduledAgent.world.operator, 'bot', firstRun, undo.id);
    expect(report.effects.map((effect) => [effect.kind, effect.outcome])).toEqual([
      ['wordpress_post_created', 'reverted'],
      ['wordpress_post_created', 'reverted'],
    ]);
    expect(titles()).toEqual(['Rewritten: Third story']);
  });

  it('waits for a person when the publish tool is on preview, publishes once on acceptance and nothing on rejection', async () => {
    const before = postCreations();
    const { world, flowId } = approvalAgent;
    served.set('/approval.xml', rss([
      { guid: 'held-b', title: 'Rejected story', body: 'Not for us.', date: ago(2 * hour) },
      { guid: 'held-a', title: 'Approved story', body: 'Worth it.', date: ago(3 * hour) },
    ]));
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenant.id, flowId, source: 'manual' });
    worker.notify();
    let pending: Awaited<ReturnType<typeof listPendingActions>>['items'] = [];
    await eventually(
      async () => {
        pending = (await listPendingActions(context, world.viewer, { agent: 'bot', status: 'pending' })).items;
        return pending.length === 2;
      },
      () => `${pending.length} pending actions, not 2`,
    );
    const children = await childrenOf(job.id);
    expect(children).toHaveLength(2);
    expect((await jobReaches(context, world.tenant.id, job.id, ['waiting'])).status).toBe('waiting');
    for (const child of children) expect((await jobReaches(context, world.tenant.id, child.id, ['waiting'])).status).toBe('waiting');
    expect(postCreations()).toBe(before);

    const approved = pending.find((action) => (action.input as { title: string }).title === 'Rewritten: Approved story');
    const rejected = pending.find((action) => (action.input as { title: string }).title === 'Rewritten: Rejected story');
    if (!approved || !rejected) throw new Error('the pending actions are not the two rewrites');
    expect(approved).toMatchObject({ toolName: 'publish_publish', kind: 'publish', stepKey: 'rewrite' });

    await resolvePendingAction(context, release, world.operator, approved.id, 'accept');
    worker.notify();
    expect((await jobReaches(context, world.tenant.id, approved.jobId as string, ['completed', 'failed'])).status).toBe('completed');
    expect(postCreations()).toBe(before + 1);
    expect(wordpress.posts.filter((post) => post.title === 'Rewritten: Approved story')).toHaveLength(1);

    await resolvePendingAction(context, release, world.operator, rejected.id, 'reject', { reason: 'Not our topic.' });
    worker.notify();
    expect((await jobReaches(context, world.tenant.id, rejected.jobId as string, ['completed', 'failed'])).status).toBe('completed');
    expect((await jobReaches(context, world.tenant.id, job.id, ['completed', 'failed'])).status).toBe('completed');
    expect(postCreations()).toBe(before + 1);
    expect(wordpress.posts.some((post) => post.title === 'Rewritten: Rejected story')).toBe(false);
  });
});
