import { createHmac } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handlerCall, handlerFailureOf, useLocalServer } from '../../../test/support/handler-fixture';
import type { HandlerEffect } from '../handler-effect';
import { createWebhookHandler, webhookConfigSchema } from './webhook-handler';

describe('webhook publish handler', () => {
  const local = useLocalServer();
  const delays: number[] = [];
  const handler = createWebhookHandler({
    now: () => new Date('2026-12-01T10:00:00.000Z'),
    sleep: async (milliseconds) => void delays.push(milliseconds),
  });
  const call = () => handlerCall({ http: local.http, secret: 'shh' });
  const config = (extra: Record<string, unknown> = {}) => webhookConfigSchema.parse({ url: `${local.fixture.url}/hook`, backoffMs: 100, ...extra });
  beforeEach(() => void (delays.length = 0));

  it('POSTs the output as JSON, signed over timestamp and body, with the idempotency key', async () => {
    local.fixture.route('POST', '/hook', () => ({ status: 201, body: { id: 'evt_9' } }));
    const result = await handler.publish({ body: { title: 'Hello' }, idempotencyKey: 'job_1:send' }, config({ headers: { 'X-Api-Version': '2' } }), call());
    expect(result).toEqual({ id: 'evt_9', created: true });
    const [received] = local.fixture.requests;
    const expected = createHmac('sha256', 'shh').update('1796119200.{"title":"Hello"}').digest('hex');
    expect(received?.headers).toMatchObject({
      'content-type': 'application/json',
      'idempotency-key': 'job_1:send',
      'x-dm-timestamp': '1796119200',
      'x-dm-signature': `sha256=${expected}`,
      'x-api-version': '2',
    });
    expect(received?.json()).toEqual({ title: 'Hello' });
  });

  it('records the delivery as a webhook_delivered effect an undo cannot reverse', async () => {
    local.fixture.route('POST', '/hook', () => ({ status: 201, body: { id: 'evt_10' } }));
    const effects: HandlerEffect[] = [];
    await handler.publish({ body: { title: 'Hello' }, idempotencyKey: 'job_2:send' }, config(), { ...call(), effects: { record: async (effect) => void effects.push(effect) } });
    expect(effects).toEqual([{ kind: 'webhook_delivered', ref: 'delivery:job_2:send', reversible: false, undo: { url: `${local.fixture.url}/hook`, status: 201, remoteId: 'evt_10' } }]);
  });

  it('retries a 5xx with exponential backoff, keeping the idempotency key', async () => {
    let calls = 0;
    local.fixture.route('POST', '/hook', () => (++calls < 3 ? { status: 503, body: 'busy' } : { status: 200, body: 'ok' }));
    const result = await handler.publish({ body: 1, idempotencyKey: 'k1' }, config(), call());
    expect(result).toEqual({ id: 'k1', created: true });
    expect(delays).toEqual([100, 200]);
    expect(new Set(local.fixture.requests.map((request) => request.headers['idempotency-key']))).toEqual(new Set(['k1']));
  });

  it('gives up after maxAttempts with handler.remote_failed, still retryable by the engine', async () => {
    local.fixture.route('POST', '/hook', () => ({ status: 500, body: 'down' }));
    expect(await handlerFailureOf(handler.publish({ body: 1, idempotencyKey: 'k' }, config({ maxAttempts: 2 }), call()))).toEqual({ code: 'handler.remote_failed', retryable: true });
    expect(local.fixture.requests).toHaveLength(2);
  });

  it('retries a timeout', async () => {
    let calls = 0;
    local.fixture.route('POST', '/hook', () => (++calls === 1 ? new Promise(() => {}) : { status: 204 }));
    await handler.publish({ body: 1, idempotencyKey: 'k' }, config({ timeoutMs: 100 }), call());
    expect(local.fixture.requests).toHaveLength(2);
    expect(delays).toEqual([100]);
  });

  it('treats a 4xx as permanent: one attempt, handler.remote_rejected, not retryable', async () => {
    local.fixture.route('POST', '/hook', () => ({ status: 422, body: { error: 'bad payload' } }));
    expect(await handlerFailureOf(handler.publish({ body: 1, idempotencyKey: 'k' }, config(), call()))).toEqual({ code: 'handler.remote_rejected', retryable: false });
    expect(local.fixture.requests).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('refuses to send unsigned: no secret is handler.secret_missing', async () => {
    local.fixture.route('POST', '/hook', () => ({ status: 200 }));
    expect(await handlerFailureOf(handler.publish({ body: 1, idempotencyKey: 'k' }, config(), handlerCall({ http: local.http })))).toEqual({ code: 'handler.secret_missing', retryable: false });
    expect(local.fixture.requests).toHaveLength(0);
  });

  it('does not let configured headers replace the signature or the idempotency key', async () => {
    local.fixture.route('POST', '/hook', () => ({ status: 200 }));
    await handler.publish({ body: 1, idempotencyKey: 'real' }, config({ headers: { 'Idempotency-Key': 'fake', 'X-DM-Signature': 'fake' } }), call());
    expect(local.fixture.requests[0]?.headers['idempotency-key']).toBe('real');
    expect(local.fixture.requests[0]?.headers['x-dm-signature']).not.toBe('fake');
  });

  it('refuses a configuration without an http(s) URL', () => {
    expect(webhookConfigSchema.safeParse({ url: 'ftp://example.com/x' }).success).toBe(false);
    expect(webhookConfigSchema.safeParse({ url: 'https://example.com/x', maxAttempts: 0 }).success).toBe(false);
  });
});
