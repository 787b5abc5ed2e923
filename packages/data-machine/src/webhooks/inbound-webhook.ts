import { timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { enqueueOrThrow } from '../engine/flow-run';
import type { JobEngine } from '../engine/job-engine';
import { inboundWebhookHandlerSlug } from '../handlers/inbound-webhook-handler';
import { signWebhookBody } from '../handlers/webhook/webhook-handler';
import { signalJob } from '../engine/job-signals';
import { claimItems, isItemKeyKnown, markItemsDone } from '../items/processed-items';
import { createJob } from '../jobs/job-lifecycle';
import type { Job } from '../jobs/job';
import { inTenant, inTransaction, type TenantTransaction } from '../scope/tenant-transaction';
import type { SecretBox } from '../secrets/secret-box';
import { engineDataSchema, pipelineStepsSchema } from '../steps/step';
import { webhookGateSignal } from '../steps/webhook-gate/webhook-gate-step';

/** How far a delivery's timestamp may be from now, either way: 5 minutes. */
export const webhookToleranceSeconds = 300;
/** The largest delivery body accepted by default: 256 KiB. */
export const defaultWebhookMaxBytes = 262_144;

/** One POST to a flow's inbound webhook, as the transport received it. */
export interface InboundWebhookDelivery {
  readonly flowId: string;
  /** The `x-dm-timestamp` header: Unix seconds. */
  readonly timestamp: string | undefined;
  /** The `x-dm-signature` header: `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`. */
  readonly signature: string | undefined;
  /** The raw body, exactly as received: the signature is over these bytes. */
  readonly body: Uint8Array;
}

/** What {@link receiveInboundWebhook} runs with. */
export interface InboundWebhookOptions {
  readonly engine: JobEngine;
  /** Opens the flow's sealed secret (the server's `SECRET_KEY`). */
  readonly secrets: SecretBox;
  /** Bodies over this many bytes are `webhook.payload_too_large`; default {@link defaultWebhookMaxBytes}. */
  readonly maxBytes?: number;
}

/** What a delivery did: the job it started (or, replayed, the job the first delivery started). */
export interface InboundWebhookOutcome {
  readonly job: Job;
  /** False when the same signed request was received before: nothing new was started. */
  readonly created: boolean;
}

/** A delivery that passed the signature check: the flow's tenant and its parsed JSON payload. */
export interface VerifiedDelivery {
  readonly tenantId: string;
  readonly agentId: string;
  readonly flowId: string;
  /** The delivery's identity: `webhook:<signature hex>`, the same for a replay of the same signed request. */
  readonly deliveryKey: string;
  readonly payload: unknown;
}

/**
 * Starts a run of the flow with the delivery's JSON payload as its item.
 * Unauthenticated by design: the signature is the authentication. A
 * missing or wrong signature, an unknown flow and a flow without a webhook
 * are the same `webhook.unauthorized`; a timestamp more than 5 minutes from
 * now either way is `webhook.stale_timestamp`; an oversized body
 * `webhook.payload_too_large`. A replay of the same signed request returns
 * the first job (`created: false`). Nothing is written for a refused delivery.
 * The flow's first step must be a fetch of `inbound_webhook`, whose step the
 * job then skips (`webhook.no_entry_step` otherwise).
 *
 * @example
 * const { job } = await receiveInboundWebhook(context, { engine, secrets }, { flowId, timestamp, signature, body });
 */
export async function receiveInboundWebhook(context: DataMachineContext, options: InboundWebhookOptions, delivery: InboundWebhookDelivery): Promise<InboundWebhookOutcome> {
  const verified = await verifyInboundWebhook(context, options, delivery);
  return inTenant(context, verified.tenantId, null, (trx) => startDeliveryRun(context, options.engine, trx, verified));
}

/**
 * Releases the flow's job `jobId` waiting in a `webhook_gate` step: the
 * delivery is verified exactly as {@link receiveInboundWebhook} verifies it,
 * then, in one tenant transaction, the delivery is recorded as used and the
 * job signalled (`webhook`), so the gate's output is the payload. A job of
 * another flow, or none, is `job.not_found`; a job not waiting for a webhook
 * (already released, or never gated) is `job.not_waiting`; the same signed
 * request again, to this job or another of the flow, is `webhook.replayed`.
 */
export async function releaseWebhookGate(context: DataMachineContext, options: InboundWebhookOptions, delivery: InboundWebhookDelivery & { readonly jobId: string }): Promise<{ readonly jobId: string }> {
  const verified = await verifyInboundWebhook(context, options, delivery);
  return inTenant(context, verified.tenantId, null, async (trx) => {
    const job = await trx.selectFrom('dm_jobs').select(['id', 'flow_id', 'engine_data']).where('id', '=', delivery.jobId).where('flow_id', '=', verified.flowId).executeTakeFirst();
    if (!job) throw new DataMachineError('job.not_found', `The flow has no job "${delivery.jobId}".`, { details: { job: delivery.jobId } });
    // A delivery releases one wait once: recorded as a done item of the gate's step, so a replay to any job of the flow finds it.
    // The signature does not cover the URL: a delivery that started a job must not release one either.
    if (await isItemKeyKnown(trx, verified.flowId, verified.deliveryKey)) throw replayed();
    const gate = engineDataSchema.parse(job.engine_data ?? {}).waiting?.step ?? 'webhook_gate';
    const claimed = await claimItems(context, trx, { flowId: verified.flowId, stepKey: gate, jobId: job.id, sourceKeys: [verified.deliveryKey], max: 1 });
    if (claimed.length === 0) throw replayed();
    await markItemsDone(context, trx, { flowId: verified.flowId, stepKey: gate, sourceKeys: claimed });
    return signalJob(context, options.engine, trx, { jobId: job.id, signal: webhookGateSignal, payload: verified.payload });
  });
}

/**
 * The checks of {@link receiveInboundWebhook} without the run: size, then
 * timestamp and signature shape (no database read), then the flow's secret
 * and the signature, then the payload. Exported for the release of a
 * `webhook_gate`, which verifies the same way.
 */
export async function verifyInboundWebhook(context: DataMachineContext, options: InboundWebhookOptions, delivery: InboundWebhookDelivery): Promise<VerifiedDelivery> {
  const maxBytes = options.maxBytes ?? defaultWebhookMaxBytes;
  if (delivery.body.byteLength > maxBytes) {
    throw new DataMachineError('webhook.payload_too_large', `A webhook body may be at most ${maxBytes} bytes.`, { details: { maxBytes } });
  }
  const timestamp = parseTimestamp(delivery.timestamp);
  const skew = Math.abs(Math.floor(context.now().getTime() / 1000) - timestamp);
  if (skew > webhookToleranceSeconds) {
    throw new DataMachineError('webhook.stale_timestamp', `The delivery's timestamp is more than ${webhookToleranceSeconds} seconds from the server's clock.`, {
      details: { toleranceSeconds: webhookToleranceSeconds },
    });
  }
  const presented = parseSignature(delivery.signature);
  const hook = await findWebhook(context, delivery.flowId);
  if (hook === undefined) throw unauthorized();
  const expected = Buffer.from(signWebhookBody(openSecret(context, options.secrets, hook), timestamp, delivery.body).slice('sha256='.length), 'hex');
  if (!timingSafeEqual(expected, presented)) throw unauthorized();
  return { tenantId: hook.tenant_id, agentId: hook.agent_id, flowId: hook.flow_id, deliveryKey: `webhook:${presented.toString('hex')}`, payload: parsePayload(delivery.body) };
}

async function startDeliveryRun(context: DataMachineContext, engine: JobEngine, trx: TenantTransaction, delivery: VerifiedDelivery): Promise<InboundWebhookOutcome> {
  const flow = await trx.selectFrom('dm_flows').innerJoin('dm_pipelines', 'dm_pipelines.id', 'dm_flows.pipeline_id').select('dm_pipelines.steps').where('dm_flows.id', '=', delivery.flowId).executeTakeFirst();
  const first = flow === undefined ? undefined : pipelineStepsSchema.parse(flow.steps)[0];
  if (first === undefined || first.type !== 'fetch' || first.handler !== inboundWebhookHandlerSlug) {
    throw new DataMachineError('webhook.no_entry_step', `The flow's first step is not a fetch of "${inboundWebhookHandlerSlug}", so a delivery cannot start it.`, { details: { flow: delivery.flowId } });
  }
  const item = { sourceKey: delivery.deliveryKey, data: delivery.payload };
  // The fetch step is skipped: a job that holds an item starts after it, as a fan-out child does.
  const created = await createJob(context, trx, { flowId: delivery.flowId, source: 'webhook', idempotencyKey: delivery.deliveryKey, engineData: { item, outputs: {} } });
  if (!created.created) return created;
  // The signature does not cover the URL: a delivery that released a gate must not start a run too.
  if (await isItemKeyKnown(trx, delivery.flowId, delivery.deliveryKey)) throw replayed();
  const claimed = await claimItems(context, trx, { flowId: delivery.flowId, stepKey: first.key, jobId: created.job.id, sourceKeys: [delivery.deliveryKey], max: 1 });
  if (claimed.length === 0) throw replayed();
  await enqueueOrThrow(engine, trx, [{ tenantId: delivery.tenantId, jobId: created.job.id }]);
  return created;
}

/**
 * The flow's webhook row, read past the tenant key through the
 * `dm_flow_webhooks_inbound` policy: the delivery names only its flow.
 */
async function findWebhook(context: DataMachineContext, flowId: string): Promise<{ flow_id: string; tenant_id: string; agent_id: string; sealed_secret: string } | undefined> {
  return inTransaction(context, {}, async (trx) => {
    await sql`select set_config('dm.webhook_flow', ${flowId}, true)`.execute(trx);
    return trx.selectFrom('dm_flow_webhooks').select(['flow_id', 'tenant_id', 'agent_id', 'sealed_secret']).where('flow_id', '=', flowId).executeTakeFirst();
  });
}

/** A secret sealed under another server key cannot verify anything: the delivery is refused like any other, and the operator told. */
function openSecret(context: DataMachineContext, secrets: SecretBox, hook: { flow_id: string; sealed_secret: string }): string {
  try {
    return secrets.open(hook.sealed_secret, hook.flow_id);
  } catch (error) {
    context.logger.warn({ flow: hook.flow_id, code: DataMachineError.isInstance(error) ? error.code : 'secret.unreadable' }, 'a webhook secret could not be opened (was SECRET_KEY changed?); rotate it');
    throw unauthorized();
  }
}

function parseTimestamp(header: string | undefined): number {
  if (header === undefined || !/^\d{1,12}$/.test(header)) throw unauthorized();
  return Number(header);
}

function parseSignature(header: string | undefined): Buffer {
  const match = header === undefined ? null : /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (match === null) throw unauthorized();
  return Buffer.from((match[1] as string).toLowerCase(), 'hex');
}

/** The body as JSON; U+0000 is refused here, since jsonb cannot store it and the job row must not half-exist. */
function parsePayload(body: Uint8Array): unknown {
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new DataMachineError('webhook.invalid_payload', 'A webhook body must be JSON (UTF-8).');
  }
  if (JSON.stringify(payload).includes('\\u0000')) throw new DataMachineError('webhook.invalid_payload', 'A webhook body must not contain U+0000.');
  return payload;
}

function unauthorized(): DataMachineError {
  // One message for every case, so a caller without the secret learns nothing about the flow.
  return new DataMachineError('webhook.unauthorized', 'The delivery is not signed for this webhook.');
}

function replayed(): DataMachineError {
  return new DataMachineError('webhook.replayed', 'This signed delivery was received before.');
}
