import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  DataMachineError,
  deleteFlowWebhook,
  getFlowWebhook,
  receiveInboundWebhook,
  releaseWebhookGate,
  rotateFlowWebhookSecret,
  webhookSignatureHeader,
  webhookTimestampHeader,
  type DataMachineContext,
  type FlowWebhook,
  type JobEngine,
  type SecretBox,
} from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { flowParams } from './flow-routes';
import { jobBody, jobSchema } from './job-routes';
import { parseRawBodies, rawBody } from './raw-body';
import { bearer, errorBodySchema, instant, instantSchema, scopedErrors } from './schemas';

/** What the webhook routes run with. */
export interface WebhookRouteOptions {
  readonly context: DataMachineContext;
  /** Seals and opens flows' webhook secrets (the server's `SECRET_KEY`). */
  readonly secrets: SecretBox;
  /** Runs go here; without one a delivery is 503 `engine.unavailable`. */
  readonly engine: JobEngine | undefined;
  /** The largest delivery body, in bytes. */
  readonly maxBytes: number;
}

/** A flow's inbound webhook as the API shows it: where to POST, never the secret. */
const webhookSchema = z.object({
  flowId: z.string(),
  agentId: z.string(),
  path: z.string().describe('Where deliveries are POSTed, relative to the server: /hooks/flows/{flowId}'),
  createdAt: instantSchema,
  rotatedAt: instantSchema,
});

/** The path deliveries to `flowId` are POSTed to. */
export function inboundWebhookPath(flowId: string): string {
  return `/hooks/flows/${encodeURIComponent(flowId)}`;
}

function webhookBody(webhook: FlowWebhook): z.output<typeof webhookSchema> {
  return { flowId: webhook.flowId, agentId: webhook.agentId, path: inboundWebhookPath(webhook.flowId), createdAt: instant(webhook.createdAt), rotatedAt: instant(webhook.rotatedAt) };
}

const deliveryHeaders = z.object({
  [webhookTimestampHeader]: z.string().max(100).optional().describe('Unix seconds when the delivery was signed; within 5 minutes of the server clock'),
  [webhookSignatureHeader]: z.string().max(200).optional().describe('sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>'),
});

/**
 * A flow's inbound webhook: an operator rotates its secret (shown once),
 * reads where to POST, or removes it; and the unauthenticated delivery
 * routes (start a run; release a job waiting in a `webhook_gate`), where
 * the signature is the authentication. The delivery route
 * reads its body raw (the HMAC is over the exact bytes), in a scope of its
 * own so no other route loses its JSON parser.
 */
export async function registerWebhookRoutes(app: FastifyInstance, options: WebhookRouteOptions): Promise<void> {
  const { context, secrets } = options;
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    '/agents/:agent/flows/:flow/webhook',
    { schema: { tags: ['flows'], security: bearer, summary: "Where the flow's inbound webhook takes deliveries (404 `webhook.not_found` without one)", params: flowParams, response: { 200: webhookSchema, ...scopedErrors } } },
    async (request) => webhookBody(await getFlowWebhook(context, await requestScope(context, request), request.params.agent, request.params.flow)),
  );

  routes.post(
    '/agents/:agent/flows/:flow/webhook/rotate',
    {
      schema: {
        tags: ['flows'],
        security: bearer,
        summary: "Create or replace the flow's inbound webhook secret (operators); the secret is in this answer only",
        params: flowParams,
        response: { 201: webhookSchema.extend({ secret: z.string() }), ...scopedErrors },
      },
    },
    async (request, reply) => {
      const { webhook, secret } = await rotateFlowWebhookSecret(context, secrets, await requestScope(context, request), request.params.agent, request.params.flow);
      return reply.code(201).send({ ...webhookBody(webhook), secret });
    },
  );

  routes.delete(
    '/agents/:agent/flows/:flow/webhook',
    { schema: { tags: ['flows'], security: bearer, summary: "Remove the flow's inbound webhook: deliveries are refused from now on", params: flowParams, response: { 204: z.null(), ...scopedErrors } } },
    async (request, reply) => {
      await deleteFlowWebhook(context, await requestScope(context, request), request.params.agent, request.params.flow);
      return reply.code(204).send(null);
    },
  );

  await app.register(async (scope) => {
    parseRawBodies(scope, options.maxBytes);
    scope.withTypeProvider<ZodTypeProvider>().post(
      '/hooks/flows/:flow',
      {
        bodyLimit: options.maxBytes,
        // A delivery writes jobs and deliveries, never access: it leaves the access cache as it is.
        config: { accessUnchanged: true },
        schema: {
          tags: ['webhooks'],
          summary:
            'Deliver a signed JSON payload: starts a run of the flow with it as the item (202); the same signed request again returns that job (200). Unknown flow and bad signature are the same 401 `webhook.unauthorized`.',
          params: z.object({ flow: z.string().min(1).max(200) }),
          headers: deliveryHeaders,
          response: { 200: jobSchema, 202: jobSchema, 400: errorBodySchema, 401: errorBodySchema, 409: errorBodySchema, 413: errorBodySchema, 429: errorBodySchema, 503: errorBodySchema },
        },
      },
      async (request, reply) => {
        if (options.engine === undefined) throw new DataMachineError('engine.unavailable', 'This server runs no job engine; nothing was started.');
        const { job, created } = await receiveInboundWebhook(
          context,
          { engine: options.engine, secrets, maxBytes: options.maxBytes },
          { flowId: request.params.flow, timestamp: request.headers[webhookTimestampHeader], signature: request.headers[webhookSignatureHeader], body: rawBody(request) },
        );
        return reply.code(created ? 202 : 200).send(jobBody(job));
      },
    );
    scope.withTypeProvider<ZodTypeProvider>().post(
      '/hooks/flows/:flow/jobs/:job',
      {
        bodyLimit: options.maxBytes,
        // A delivery writes jobs and deliveries, never access: it leaves the access cache as it is.
        config: { accessUnchanged: true },
        schema: {
          tags: ['webhooks'],
          summary:
            "Deliver a signed JSON payload to a job of the flow waiting in a `webhook_gate`: the job goes on with the payload as the gate's output (202). 409 `job.not_waiting` when it is not waiting, `webhook.replayed` for a delivery already used.",
          params: z.object({ flow: z.string().min(1).max(200), job: z.string().min(1).max(200) }),
          headers: deliveryHeaders,
          response: { 202: z.object({ jobId: z.string() }), 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema, 413: errorBodySchema, 429: errorBodySchema, 503: errorBodySchema },
        },
      },
      async (request, reply) => {
        if (options.engine === undefined) throw new DataMachineError('engine.unavailable', 'This server runs no job engine; nothing was released.');
        const released = await releaseWebhookGate(
          context,
          { engine: options.engine, secrets, maxBytes: options.maxBytes },
          { flowId: request.params.flow, jobId: request.params.job, timestamp: request.headers[webhookTimestampHeader], signature: request.headers[webhookSignatureHeader], body: rawBody(request) },
        );
        return reply.code(202).send(released);
      },
    );
  });
}
