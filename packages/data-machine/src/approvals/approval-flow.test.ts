import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { describeEachDatabase, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
import { builtInHandlers, digestSteps } from '../../test/support/pipeline-fixture';
import { expirePendingActions, resolvePendingAction, type ReleaseJob } from './approval-resolution';
import type { PendingAction } from './pending-action';
import { getPendingAction, listPendingActions } from './pending-action-repository';

await describeEachDatabase<DataMachineDatabase>('human approval of an ai step publish', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let server: ModelServer;
  let stop: () => Promise<void>;
  let release: ReleaseJob;

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
  });
  afterAll(async () => {
    await stop();
    await server.close();
  });
  beforeEach(() => server.reset());

  /** fetch -> summarize (ai) -> store (records), with `publish_store` on preview; one item, whose job waits for the decision. */
  async function waitingJob(slug: string): Promise<{ world: RunWorld; childId: string; action: PendingAction }> {
    const world = await runWorld(context, slug, digestSteps, { stepConfig: { ...itemsConfig(['a']), store: { handlerConfig: { collection: 'digests' } } } });
    await updateAgent(context, world.owner, 'bot', { config: { toolPolicy: { allowAutonomousWrites: true }, toolModes: { tools: { publish_store: 'preview' } } } });
    server.enqueue(toolCallReply({ name: 'publish_store', arguments: { title: 'A', summary: 'Short.' } }));
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    // One item: the job runs it itself (no fan-out); it waits at the ai step for the decision.
    const childId = job.id;
    await eventually(
      async () => {
        const row = await inTenant(context, world.tenantId, null, (trx) => trx.selectFrom('dm_jobs').select(['status', 'status_reason']).where('id', '=', job.id).executeTakeFirst());
        return row?.status === 'waiting' && row.status_reason === 'signal';
      },
      () => 'the job never waited for a signal',
      4_000,
    );
    const page = await listPendingActions(context, world.viewer, { agent: 'bot', status: 'pending' });
    const action = page.items[0];
    if (!action) throw new Error('no pending action');
    return { world, childId, action };
  }

  const records = (world: RunWorld) => database.db.selectFrom('dm_records').select('body').where('flow_id', '=', world.flowId).execute();

  it('waits with the call stored as a pending action, listed for a viewer, and publishes nothing yet', async () => {
    const { world, childId, action } = await waitingJob('appr-wait');
    const child = await jobReaches(context, world.tenantId, childId, ['waiting']);
    expect(child.engine_data).toMatchObject({ waiting: { step: 'summarize', signal: `approval:${action.id}` } });
    expect(action).toMatchObject({ jobId: childId, stepKey: 'summarize', toolName: 'publish_store', input: { title: 'A', summary: 'Short.' }, kind: 'publish', status: 'pending' });
    expect(await records(world)).toEqual([]);
  });

  it('on acceptance publishes exactly the stored input, once, and the job completes', async () => {
    const { world, childId, action } = await waitingJob('appr-accept');
    server.enqueue(textReply('Published.'));
    await resolvePendingAction(context, release, world.operator, action.id, 'accept');
    const child = await jobReaches(context, world.tenantId, childId, ['completed', 'failed']);
    expect(child.status).toBe('completed');
    expect((await records(world)).map((row) => row.body)).toEqual([action.input]);
    expect(await getPendingAction(context, world.viewer, action.id)).toMatchObject({ status: 'accepted', decidedBy: world.userIds.operator });
  });

  it('on rejection tells the model why, publishes nothing, and the job completes', async () => {
    const { world, childId, action } = await waitingJob('appr-reject');
    server.enqueue(textReply('Understood; nothing was published.'));
    await resolvePendingAction(context, release, world.admin, action.id, 'reject', { reason: 'Wrong tone.' });
    const child = await jobReaches(context, world.tenantId, childId, ['completed', 'failed']);
    expect(child.status).toBe('completed');
    expect(await records(world)).toEqual([]);
    const lastRequest = server.completionRequests().at(-1);
    expect(JSON.stringify(lastRequest?.messages)).toContain('Rejected by the approver: Wrong tone.');
    expect(child.engine_data).toMatchObject({ outputs: { summarize: { declined: { store: 'Wrong tone.' } }, store: { declined: true } } });
  });

  it('rejects an action past its expiry through the sweep, and the job completes without publishing', async () => {
    const { world, childId, action } = await waitingJob('appr-expire');
    server.enqueue(textReply('Nobody approved it.'));
    const now = context.now();
    context.setNow(new Date(action.expiresAt.getTime() + 1));
    try {
      expect((await expirePendingActions(context, release)).rejected).toBeGreaterThanOrEqual(1);
    } finally {
      context.setNow(now);
    }
    const child = await jobReaches(context, world.tenantId, childId, ['completed', 'failed']);
    expect(child.status).toBe('completed');
    expect(await records(world)).toEqual([]);
    expect((await getPendingAction(context, world.viewer, action.id)).status).toBe('rejected');
  });
});
