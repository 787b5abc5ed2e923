import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { describeEachDatabase, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { updateAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { startFlowRun } from '../engine/flow-run';
import type { JobEngine } from '../engine/job-engine';
import { signalJob } from '../engine/job-signals';
import { inTenant } from '../scope/tenant-transaction';
import { createAiStep } from '../steps/ai/ai-step';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, eventually, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { itemsConfig, runWorld, type RunWorld } from '../../test/support/flow-run-fixture';
import { builtInHandlers, digestSteps, flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import { createFlow } from '../flows/flow-repository';
import { cancelJob } from '../jobs/job-repository';
import { createPipeline } from '../pipelines/pipeline-repository';
import { expirePendingActions, resolvePendingAction, type ReleaseJob } from './approval-resolution';
import type { PendingAction } from './pending-action';
import { getPendingAction, listPendingActions } from './pending-action-repository';

await describeEachDatabase<DataMachineDatabase>('human approval of an ai step publish', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let server: ModelServer;
  let stop: () => Promise<void>;
  let release: ReleaseJob;
  let shared: FlowWorld;

  beforeAll(async () => {
    context = await migratedContext(database.db);
    // The engine and the model run on real time; the expiry test moves the product clock only.
    context.setNow(new Date());
    server = await startModelServer();
    engine = engineOn(database);
    const provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
    const handlers = builtInHandlers(context);
    const ai = createAiStep({ context, transcripts: createPostgresTranscriptStore({ db: database.database.db }), provider, handlers });
    ({ stop } = await runningWorker(context, engine, handlers, { ai }));
    release = (trx, { jobId, signal, payload }) => signalJob(context, engine, trx, { jobId, signal, payload }).then(() => undefined);
    // One agent for the approval tests, each on a flow of its own: the world is made once.
    shared = await flowWorld(context, 'appr');
    await updateAgent(context, shared.owner, 'bot', { config: { toolPolicy: { allowAutonomousWrites: true }, toolModes: { tools: { publish_store: 'preview' } } } });
  });
  afterAll(async () => {
    await stop();
    await server.close();
  });
  beforeEach(() => server.reset());

  /** fetch -> summarize (ai) -> store (records), with `publish_store` on preview; one item, whose job waits for the decision. */
  async function waitingJob(slug: string): Promise<{ world: RunWorld; jobId: string; action: PendingAction }> {
    await createPipeline(context, shared.owner, shared.handlers, 'bot', { slug, name: slug, steps: digestSteps });
    const flow = await createFlow(context, shared.owner, shared.handlers, 'bot', { pipeline: slug, slug, name: slug, stepConfig: { ...itemsConfig(['a']), store: { handlerConfig: { collection: 'digests' } } } });
    const world: RunWorld = { ...shared, flowId: flow.id, tenantId: shared.tenant.id };
    server.enqueue(toolCallReply({ name: 'publish_store', arguments: { title: 'A', summary: 'Short.' } }));
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    // One item: the job runs it itself (no fan-out); it waits at the ai step for the decision.
    const jobId = job.id;
    await eventually(
      async () => {
        const row = await inTenant(context, world.tenantId, null, (trx) => trx.selectFrom('dm_jobs').select(['status', 'status_reason']).where('id', '=', job.id).executeTakeFirst());
        return row?.status === 'waiting' && row.status_reason === 'signal';
      },
      () => 'the job never waited for a signal',
      4_000,
    );
    const page = await listPendingActions(context, world.viewer, { agent: 'bot', status: 'pending' });
    const action = page.items.find((item) => item.jobId === job.id);
    if (!action) throw new Error('no pending action');
    return { world, jobId, action };
  }

  const records = (world: RunWorld) => database.db.selectFrom('dm_records').select('body').where('flow_id', '=', world.flowId).execute();

  it('waits with the call stored as a pending action, listed for a viewer, and publishes nothing yet', async () => {
    const { world, jobId, action } = await waitingJob('appr-wait');
    const child = await jobReaches(context, world.tenantId, jobId, ['waiting']);
    expect(child.engine_data).toMatchObject({ waiting: { step: 'summarize', signal: `approval:${action.id}` } });
    expect(action).toMatchObject({ jobId, stepKey: 'summarize', toolName: 'publish_store', input: { title: 'A', summary: 'Short.' }, kind: 'publish', status: 'pending' });
    expect(await records(world)).toEqual([]);
    // Ended here, so the expiry test's sweep does not release it into a later test's script.
    await cancelJob(context, world.owner, 'bot', jobId);
  });

  it('on acceptance publishes exactly the stored input, once, and the job completes', async () => {
    const { world, jobId, action } = await waitingJob('appr-accept');
    server.enqueue(textReply('Published.'));
    await resolvePendingAction(context, release, world.operator, action.id, 'accept');
    const child = await jobReaches(context, world.tenantId, jobId, ['completed', 'failed']);
    expect(child.status).toBe('completed');
    expect((await records(world)).map((row) => row.body)).toEqual([action.input]);
    expect(await getPendingAction(context, world.viewer, action.id)).toMatchObject({ status: 'accepted', decidedBy: world.userIds.operator });
  });

  it('on rejection tells the model why, publishes nothing, and the job completes', async () => {
    const { world, jobId, action } = await waitingJob('appr-reject');
    server.enqueue(textReply('Understood; nothing was published.'));
    await resolvePendingAction(context, release, world.admin, action.id, 'reject', { reason: 'Wrong tone.' });
    const child = await jobReaches(context, world.tenantId, jobId, ['completed', 'failed']);
    expect(child.status).toBe('completed');
    expect(await records(world)).toEqual([]);
    const lastRequest = server.completionRequests().at(-1);
    expect(JSON.stringify(lastRequest?.messages)).toContain('Rejected by the approver: Wrong tone.');
    expect(child.engine_data).toMatchObject({ outputs: { summarize: { declined: { store: 'Wrong tone.' } }, store: { declined: true } } });
  });

  it('rejects an action past its expiry through the sweep, and the job completes without publishing', async () => {
    const { world, jobId, action } = await waitingJob('appr-expire');
    server.enqueue(textReply('Nobody approved it.'));
    const now = context.now();
    context.setNow(new Date(action.expiresAt.getTime() + 1));
    try {
      expect((await expirePendingActions(context, release)).rejected).toBeGreaterThanOrEqual(1);
    } finally {
      context.setNow(now);
    }
    const child = await jobReaches(context, world.tenantId, jobId, ['completed', 'failed']);
    expect(child.status).toBe('completed');
    expect(await records(world)).toEqual([]);
    expect((await getPendingAction(context, world.viewer, action.id)).status).toBe('rejected');
  });

  it('never runs an accepted call whose stored copy was changed after the preview: the action fails, the model is told, nothing is published', async () => {
    const { world, jobId, action } = await waitingJob('appr-tamper');
    // What the approver saw is no longer the held call (a row altered behind the product's back).
    await database.db.updateTable('dm_pending_actions').set({ input: JSON.stringify({ title: 'Something else' }) }).where('id', '=', action.id).execute();
    server.enqueue(textReply('It was not run.'), textReply('Still not run.'));
    await resolvePendingAction(context, release, world.operator, action.id, 'accept');
    await eventually(
      async () => JSON.stringify(server.completionRequests().at(-1)?.messages ?? []).includes('What was approved is not the held call'),
      () => 'the model was never told the call did not run',
    );
    const job = await jobReaches(context, world.tenantId, jobId, ['completed', 'failed']);
    expect({ status: job.status, code: job.error_code, attempts: job.attempts }).toEqual({ status: 'failed', code: 'ai.missing_tool_call', attempts: 1 });
    expect((await getPendingAction(context, world.viewer, action.id)).status).toBe('failed');
    expect(await records(world)).toEqual([]);
  });

  it('fails the job before any model call when the publish tool is forbidden (ai.tool_denied)', async () => {
    const world = await runWorld(context, 'appr-forbidden', digestSteps, { stepConfig: { ...itemsConfig(['a']), store: { handlerConfig: { collection: 'digests' } } } });
    await updateAgent(context, world.owner, 'bot', { config: { toolPolicy: { allowAutonomousWrites: true }, toolModes: { categories: { publish: 'forbidden' } } } });
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    const ended = await jobReaches(context, world.tenantId, job.id, ['completed', 'failed']);
    expect({ status: ended.status, code: ended.error_code, attempts: ended.attempts }).toEqual({ status: 'failed', code: 'ai.tool_denied', attempts: 1 });
    expect(server.completionRequests()).toEqual([]);
  });
});
