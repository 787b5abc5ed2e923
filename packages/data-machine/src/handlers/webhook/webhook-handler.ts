import { createHmac } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { z } from 'zod';
import type { HandlerContext, PublishHandler } from '../handler';
import { HandlerError } from '../handler-error';
import type { HandlerHttpClient, HandlerHttpResponse } from '../http/handler-http-client';
import { withCallHttp } from '../http/call-http';
import { throwForStatus } from '../http/throw-for-status';
import { requireSecret } from '../internal/require-secret';

/** The configuration of `webhook`: where to POST, and how hard to try. */
export const webhookConfigSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  /** Extra headers (an API version, a tenant id); the signature and idempotency headers cannot be overridden. */
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(1000)).default({}),
  maxAttempts: z.int().min(1).max(10).default(3),
  /** The first backoff; each further retry waits twice as long. */
  backoffMs: z.int().min(0).max(60_000).default(1_000),
  timeoutMs: z.int().min(100).max(120_000).default(10_000),
});
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

/** Header carrying `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export const webhookSignatureHeader = 'x-dm-signature';
/** Header carrying the signing time in Unix seconds; receivers reject old ones. */
export const webhookTimestampHeader = 'x-dm-timestamp';

/**
 * The signature of a webhook body: `sha256=` and the hex HMAC-SHA256, keyed
 * by the secret, of `<timestamp>.<body>`. Binding the timestamp into the MAC
 * lets a receiver refuse replays of an old delivery.
 */
export function signWebhookBody(secret: string, timestamp: number, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/** Options of {@link createWebhookHandler}: time comes in so tests control it. */
export interface WebhookHandlerOptions {
  readonly now?: () => Date;
  /** Waits between attempts; rejects when `signal` aborts. */
  readonly sleep?: (milliseconds: number, signal: AbortSignal) => Promise<void>;
}

const reservedHeaders = new Set(['content-type', 'idempotency-key', webhookSignatureHeader, webhookTimestampHeader]);

/**
 * A publish handler that POSTs the step output as JSON to a URL, signed with
 * the flow's secret (see {@link signWebhookBody}) and with an
 * `Idempotency-Key` header stable across retries, so the receiver can drop a
 * second delivery. A 5xx, a timeout or a dropped connection is retried with
 * exponential backoff up to `maxAttempts`; a 4xx is permanent
 * (`handler.remote_rejected`, `retryable: false`).
 */
export function createWebhookHandler(options: WebhookHandlerOptions = {}): PublishHandler<WebhookConfig> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? ((milliseconds, signal) => sleepFor(milliseconds, undefined, { signal }));
  return {
    kind: 'publish',
    slug: 'webhook',
    description: 'POSTs each output as signed JSON to a URL, with an idempotency key.',
    configSchema: webhookConfigSchema,
    secretName: 'webhook_secret',
    async publish(request, config, call) {
      const secret = requireSecret(call, 'webhook');
      const body = JSON.stringify(request.body ?? null);
      return withCallHttp(call, async (http) => {
        for (let attempt = 1; ; attempt += 1) {
          try {
            const response = await deliver(http, { config, call, secret, body, idempotencyKey: request.idempotencyKey, timestamp: Math.floor(now().getTime() / 1000) });
            const id = remoteId(response) ?? request.idempotencyKey;
            // A delivery cannot be called back: recorded so an undo reports it, not reverses it.
            await call.effects?.record({ kind: 'webhook_delivered', ref: `delivery:${request.idempotencyKey}`, reversible: false, undo: { url: config.url, status: response.status, remoteId: id } });
            return { id, created: true };
          } catch (error) {
            if (!HandlerError.isInstance(error) || !error.retryable || attempt >= config.maxAttempts || call.signal.aborted) throw error;
            const delay = config.backoffMs * 2 ** (attempt - 1);
            call.logger.warn({ attempt, delay, code: error.code }, `webhook delivery failed, retrying: ${error.message}`);
            await sleep(delay, call.signal);
          }
        }
      });
    },
  };
}

interface Delivery {
  readonly config: WebhookConfig;
  readonly call: HandlerContext;
  readonly secret: string;
  readonly body: string;
  readonly idempotencyKey: string;
  readonly timestamp: number;
}

async function deliver(http: HandlerHttpClient, delivery: Delivery): Promise<HandlerHttpResponse> {
  const extra = Object.fromEntries(Object.entries(delivery.config.headers).filter(([name]) => !reservedHeaders.has(name.toLowerCase())));
  const response = await http.request({
    url: delivery.config.url,
    method: 'POST',
    body: delivery.body,
    timeoutMs: delivery.config.timeoutMs,
    signal: delivery.call.signal,
    headers: {
      ...extra,
      'content-type': 'application/json',
      'idempotency-key': delivery.idempotencyKey,
      [webhookTimestampHeader]: String(delivery.timestamp),
      [webhookSignatureHeader]: signWebhookBody(delivery.secret, delivery.timestamp, delivery.body),
    },
  });
  throwForStatus(response, 'The webhook receiver');
  return response;
}

function remoteId(response: HandlerHttpResponse): string | undefined {
  if (!(response.headers['content-type'] ?? '').includes('json')) return undefined;
  const parsed = z.object({ id: z.union([z.string().min(1), z.number()]) }).safeParse(safeJson(response));
  return parsed.success ? String(parsed.data.id) : undefined;
}

function safeJson(response: HandlerHttpResponse): unknown {
  try {
    return response.json();
  } catch {
    return undefined;
  }
}
