import { describeEachDatabase } from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
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
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import { deleteFlowWebhook, getFlowWebhook, rotateFlowWebhookSecret, webhookSecretPrefix, webhookSecretsPurpose } from './flow-webhook-repository';
import { receiveInboundWebhook, type InboundWebhookDelivery } from './inbound-webhook';

const secrets = createSecretBox('s'.repeat(40), webhookSecretsPurpose);

/** inbound_webhook -> publish (records): each delivery's payload becomes a record. */
const inboundSteps: readonly PipelineStepInput[] = [
  { key: 'inbox', type: 'fetch', handler: 'inbound_webhook' },
  { key: 'store', type: 'publish', handler: 'records', config: { collection: 'inbox' } },
];

await describeEachDatabase<DataMachineDatabase>('inbound webhook', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let handlers: HandlerRegistry;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    handlers = createHandlerRegistry([inboundWebhookHandler, jsonItemsHandler, createRecordsHandler(context)]);
    engine = engineOn(database);
    ({ stop } = await runningWorker(context, engine, handlers));
  });
  afterAll(async () => {
    await stop();
  });

  async function hookedFlow(slug: string, steps: readonly PipelineStepInput[] = inboundSteps): Promise<{ world: FlowWorld; flowId: string; secret: string }> {
    const world = await flowWorld(context, slug);
    await createPipeline(context, world.owner, handlers, 'bot', { slug: 'inbox', name: 'Inbox', steps });
    const flow = await createFlow(context, world.owner, handlers, 'bot', { pipeline: 'inbox', slug: 'inbox', name: 'Inbox', stepConfig: steps[0]?.key === 'fetch' ? { fetch: { handlerConfig: { items: [] } } } : {} });
    const { secret } = await rotateFlowWebhookSecret(context, secrets, world.operator, 'bot', 'inbox');
    return { world, flowId: flow.id, secret };
  }

  function signed(flowId: string, secret: string, payload: unknown, at: Date = context.now()): InboundWebhookDelivery {
    const body = Buffer.from(JSON.stringify(payload));
    const timestamp = Math.floor(at.getTime() / 1000);
    return { flowId, timestamp: String(timestamp), signature: signWebhookBody(secret, timestamp, body), body };
  }

  const jobsOf = (flowId: string) => database.db.selectFrom('dm_jobs').select(['id', 'source']).where('flow_id', '=', flowId).execute();
  const itemsOf = (flowId: string) => database.db.selectFrom('dm_processed_items').select('source_key').where('flow_id', '=', flowId).execute();

  it('gives an operator a secret once and keeps it only sealed', async () => {
    const { world, flowId, secret } = await hookedFlow('wh-secret');
    expect(secret.startsWith(webhookSecretPrefix)).toBe(true);
    const row = await database.db.selectFrom('dm_flow_webhooks').selectAll().where('flow_id', '=', flowId).executeTakeFirstOrThrow();
    expect(row.sealed_secret).not.toContain(secret.slice(webhookSecretPrefix.length));
    expect(await getFlowWebhook(context, world.viewer, 'bot', 'inbox')).toEqual({ flowId, agentId: world.agent.id, createdAt: context.now(), rotatedAt: context.now() });
  });

  it('refuses a viewer rotating the secret (access.denied) and a flow without a webhook (webhook.not_found)', async () => {
    const { world } = await hookedFlow('wh-viewer');
    expect(await codeOf(rotateFlowWebhookSecret(context, secrets, world.viewer, 'bot', 'inbox'))).toBe('access.denied');
    await deleteFlowWebhook(context, world.operator, 'bot', 'inbox');
    expect(await codeOf(getFlowWebhook(context, world.viewer, 'bot', 'inbox'))).toBe('webhook.not_found');
    expect(await codeOf(deleteFlowWebhook(context, world.operator, 'bot', 'inbox'))).toBe('webhook.not_found');
  });

  it('starts a job from a signed delivery, with the payload as its item, and runs it to completion', async () => {
    const { flowId, secret, world } = await hookedFlow('wh-start');
    const { job, created } = await receiveInboundWebhook(context, { engine, secrets }, signed(flowId, secret, { order: 42, note: 'café' }));
    expect({ created, source: job.source }).toEqual({ created: true, source: 'webhook' });
    const ended = await jobReaches(context, world.tenant.id, job.id, ['completed', 'failed']);
    expect(ended.status).toBe('completed');
    const records = await database.db.selectFrom('dm_records').select('body').where('flow_id', '=', flowId).execute();
    expect(records.map((record) => record.body)).toEqual([{ order: 42, note: 'café' }]);
  });

  it('does not start a second job for a replay of the same signed request', async () => {
    const { flowId, secret } = await hookedFlow('wh-replay');
    const delivery = signed(flowId, secret, { order: 1 });
    const first = await receiveInboundWebhook(context, { engine, secrets }, delivery);
    const again = await receiveInboundWebhook(context, { engine, secrets }, delivery);
    expect({ same: again.job.id === first.job.id, created: again.created }).toEqual({ same: true, created: false });
    expect(await jobsOf(flowId)).toHaveLength(1);
  });

  it('refuses a wrong, missing or malformed signature, a rotated-out secret and an unknown flow alike (webhook.unauthorized), writing nothing', async () => {
    const { flowId, secret, world } = await hookedFlow('wh-bad');
    const good = signed(flowId, secret, { order: 1 });
    const refused = [
      { ...good, signature: signWebhookBody(`${secret}x`, Number(good.timestamp), good.body) },
      { ...good, signature: undefined },
      { ...good, signature: 'sha256=zz' },
      { ...good, timestamp: undefined },
      { ...good, body: Buffer.from(JSON.stringify({ order: 2 })) },
      { ...good, flowId: 'flw_unknown' },
    ];
    for (const delivery of refused) expect(await codeOf(receiveInboundWebhook(context, { engine, secrets }, delivery))).toBe('webhook.unauthorized');
    await rotateFlowWebhookSecret(context, secrets, world.operator, 'bot', 'inbox');
    expect(await codeOf(receiveInboundWebhook(context, { engine, secrets }, good))).toBe('webhook.unauthorized');
    expect({ jobs: await jobsOf(flowId), items: await itemsOf(flowId) }).toEqual({ jobs: [], items: [] });
  });

  it('refuses a timestamp more than 5 minutes old or ahead (webhook.stale_timestamp), writing nothing', async () => {
    const { flowId, secret } = await hookedFlow('wh-stale');
    const now = context.now().getTime();
    expect(await codeOf(receiveInboundWebhook(context, { engine, secrets }, signed(flowId, secret, { a: 1 }, new Date(now - 301_000))))).toBe('webhook.stale_timestamp');
    expect(await codeOf(receiveInboundWebhook(context, { engine, secrets }, signed(flowId, secret, { a: 1 }, new Date(now + 301_000))))).toBe('webhook.stale_timestamp');
    expect((await receiveInboundWebhook(context, { engine, secrets }, signed(flowId, secret, { a: 1 }, new Date(now - 299_000)))).created).toBe(true);
    expect(await jobsOf(flowId)).toHaveLength(1);
  });

  it('refuses a body over the cap (webhook.payload_too_large) and a signed body that is not JSON (webhook.invalid_payload), writing nothing', async () => {
    const { flowId, secret } = await hookedFlow('wh-size');
    expect(await codeOf(receiveInboundWebhook(context, { engine, secrets, maxBytes: 16 }, signed(flowId, secret, { text: 'x'.repeat(32) })))).toBe('webhook.payload_too_large');
    const body = Buffer.from('{not json');
    const timestamp = Math.floor(context.now().getTime() / 1000);
    expect(await codeOf(receiveInboundWebhook(context, { engine, secrets }, { flowId, timestamp: String(timestamp), signature: signWebhookBody(secret, timestamp, body), body }))).toBe('webhook.invalid_payload');
    expect(await codeOf(receiveInboundWebhook(context, { engine, secrets }, signed(flowId, secret, { text: 'nul\u0000' })))).toBe('webhook.invalid_payload');
    expect(await jobsOf(flowId)).toEqual([]);
  });

  it('refuses to start a flow whose first step is not an inbound_webhook fetch (webhook.no_entry_step)', async () => {
    const { flowId, secret } = await hookedFlow('wh-entry', [
      { key: 'fetch', type: 'fetch', handler: 'json_items' },
      { key: 'store', type: 'publish', handler: 'records', config: { collection: 'inbox' } },
    ]);
    expect(await codeOf(receiveInboundWebhook(context, { engine, secrets }, signed(flowId, secret, { a: 1 })))).toBe('webhook.no_entry_step');
    expect(await jobsOf(flowId)).toEqual([]);
  });

  it('lets a run started otherwise (run now, a schedule) end without items', async () => {
    expect(await inboundWebhookHandler.fetch({}, {} as never)).toEqual([]);
  });
});
