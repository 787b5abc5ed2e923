import { describeEachDatabase } from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { startFlowRun } from '../engine/flow-run';
import type { JobEngine } from '../engine/job-engine';
import { createFlow } from '../flows/flow-repository';
import { createHandlerRegistry, type HandlerRegistry } from '../handlers/handler-registry';
import { inboundWebhookHandler } from '../handlers/inbound-webhook-handler';
import { jsonItemsHandler } from '../handlers/json-items-handler';
import { createRecordsHandler } from '../handlers/records-handler';
import { signWebhookBody } from '../handlers/webhook/webhook-handler';
import { createPipeline } from '../pipelines/pipeline-repository';
import { createSecretBox } from '../secrets/secret-box';
import type { PipelineStepInput } from '../steps/step';
import { createWebhookGateStep } from '../steps/webhook-gate/webhook-gate-step';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import { rotateFlowWebhookSecret, webhookSecretsPurpose } from './flow-webhook-repository';
import { receiveInboundWebhook, releaseWebhookGate, type InboundWebhookDelivery } from './inbound-webhook';

const secrets = createSecretBox('g'.repeat(40), webhookSecretsPurpose);

/** fetch one item -> wait for the flow's webhook -> store what it carried. */
const gatedSteps: readonly PipelineStepInput[] = [
  { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
  { key: 'gate', type: 'webhook_gate', config: { timeoutSeconds: 3600 } },
  { key: 'store', type: 'publish', handler: 'records', config: { collection: 'approved' } },
];

await describeEachDatabase<DataMachineDatabase>('inbound webhook releasing a webhook_gate', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let handlers: HandlerRegistry;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    handlers = createHandlerRegistry([inboundWebhookHandler, jsonItemsHandler, createRecordsHandler(context)]);
    engine = engineOn(database);
    ({ stop } = await runningWorker(context, engine, handlers, { webhook_gate: createWebhookGateStep() }));
  });
  afterAll(async () => {
    await stop();
  });

  /** A gated flow with its webhook secret, and a job of it waiting at the gate. */
  async function waitingJob(slug: string): Promise<{ world: FlowWorld; flowId: string; secret: string; jobId: string }> {
    const world = await flowWorld(context, slug);
    await createPipeline(context, world.owner, handlers, 'bot', { slug: 'gated', name: 'Gated', steps: gatedSteps });
    const flow = await createFlow(context, world.owner, handlers, 'bot', { pipeline: 'gated', slug: 'gated', name: 'Gated', stepConfig: { fetch: { handlerConfig: { items: [{ id: 'a' }] } } } });
    const { secret } = await rotateFlowWebhookSecret(context, secrets, world.operator, 'bot', 'gated');
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenant.id, flowId: flow.id, source: 'manual' });
    await jobReaches(context, world.tenant.id, job.id, ['waiting']);
    return { world, flowId: flow.id, secret, jobId: job.id };
  }

  function signed(flowId: string, secret: string, payload: unknown): InboundWebhookDelivery {
    const body = Buffer.from(JSON.stringify(payload));
    const timestamp = Math.floor(context.now().getTime() / 1000);
    return { flowId, timestamp: String(timestamp), signature: signWebhookBody(secret, timestamp, body), body };
  }

  const records = (flowId: string) => database.db.selectFrom('dm_records').select('body').where('flow_id', '=', flowId).execute();

  it('releases the waiting job, which completes with the payload as the gate output', async () => {
    const { world, flowId, secret, jobId } = await waitingJob('gate-release');
    expect(await releaseWebhookGate(context, { engine, secrets }, { ...signed(flowId, secret, { approved: true, by: 'ops' }), jobId })).toEqual({ jobId });
    const ended = await jobReaches(context, world.tenant.id, jobId, ['completed', 'failed']);
    expect(ended.status).toBe('completed');
    expect((await records(flowId)).map((record) => record.body)).toEqual([{ approved: true, by: 'ops' }]);
  });

  it('refuses a replay of the release (webhook.replayed), and a fresh delivery to a job already released (job.not_waiting)', async () => {
    const { world, flowId, secret, jobId } = await waitingJob('gate-replay');
    const delivery = { ...signed(flowId, secret, { approved: true }), jobId };
    await releaseWebhookGate(context, { engine, secrets }, delivery);
    expect(await codeOf(releaseWebhookGate(context, { engine, secrets }, delivery))).toBe('webhook.replayed');
    await jobReaches(context, world.tenant.id, jobId, ['completed']);
    expect(await codeOf(releaseWebhookGate(context, { engine, secrets }, { ...signed(flowId, secret, { approved: 'again' }), jobId }))).toBe('job.not_waiting');
    expect(await records(flowId)).toHaveLength(1);
  });

  it('refuses a bad signature before anything (webhook.unauthorized), and a job of another flow (job.not_found), leaving the job waiting', async () => {
    const { world, flowId, secret, jobId } = await waitingJob('gate-refused');
    const other = await waitingJob('gate-refused-other');
    expect(await codeOf(releaseWebhookGate(context, { engine, secrets }, { ...signed(flowId, `${secret}x`, { approved: true }), jobId }))).toBe('webhook.unauthorized');
    expect(await codeOf(releaseWebhookGate(context, { engine, secrets }, { ...signed(flowId, secret, { approved: true }), jobId: other.jobId }))).toBe('job.not_found');
    expect((await jobReaches(context, world.tenant.id, jobId, ['waiting'])).status_reason).toBe('signal');
    expect(await database.db.selectFrom('dm_processed_items').select('source_key').where('flow_id', '=', flowId).where('step_key', '=', 'gate').execute()).toEqual([]);
  });

  it('starts a run with one delivery and releases its gate with another, but never uses one delivery for both', async () => {
    const world = await flowWorld(context, 'gate-cross');
    await createPipeline(context, world.owner, handlers, 'bot', {
      slug: 'hooked',
      name: 'Hooked',
      steps: [{ key: 'inbox', type: 'fetch', handler: 'inbound_webhook' }, ...gatedSteps.slice(1)],
    });
    const flow = await createFlow(context, world.owner, handlers, 'bot', { pipeline: 'hooked', slug: 'hooked', name: 'Hooked' });
    const { secret } = await rotateFlowWebhookSecret(context, secrets, world.operator, 'bot', 'hooked');
    const start = signed(flow.id, secret, { order: 9 });
    const { job } = await receiveInboundWebhook(context, { engine, secrets }, start);
    await jobReaches(context, world.tenant.id, job.id, ['waiting']);
    expect(await codeOf(releaseWebhookGate(context, { engine, secrets }, { ...start, jobId: job.id }))).toBe('webhook.replayed');
    await releaseWebhookGate(context, { engine, secrets }, { ...signed(flow.id, secret, { order: 9, approved: true }), jobId: job.id });
    expect((await jobReaches(context, world.tenant.id, job.id, ['completed', 'failed'])).status).toBe('completed');
    expect((await records(flow.id)).map((record) => record.body)).toEqual([{ order: 9, approved: true }]);
  });
});
