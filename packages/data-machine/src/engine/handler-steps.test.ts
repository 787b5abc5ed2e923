import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { FetchHandler, PublishHandler, PublishRequest } from '../handlers/handler';
import { createHandlerRegistry } from '../handlers/handler-registry';
import { createHandlerHttpClient } from '../handlers/http/handler-http-client';
import { publishEffectKey } from '../steps/ai/publish-tools';
import type { EffectsRecorder, EngineData, PipelineStep, RecordedEffect, StepContext } from '../steps/step';
import { createHandlerSteps } from './handler-steps';

/** A publish handler that keeps what it was asked to publish. */
function capturingPublisher(): PublishHandler<Record<string, never>> & { readonly requests: PublishRequest[] } {
  const requests: PublishRequest[] = [];
  return {
    kind: 'publish',
    slug: 'capture',
    description: 'Keeps each request.',
    configSchema: z.strictObject({}),
    requests,
    async publish(request) {
      requests.push(request);
      return { id: `remote-${requests.length}`, created: true };
    },
  };
}

/** A fetch handler that reads one JSON document through the host's HTTP client. */
const httpFetcher: FetchHandler<{ url: string }> = {
  kind: 'fetch',
  slug: 'http_probe',
  description: 'Fetches one URL.',
  configSchema: z.strictObject({ url: z.string() }),
  async fetch(config, context) {
    if (!context.http) throw new Error('no http client handed to the handler');
    const response = await context.http.request({ url: config.url, signal: context.signal });
    return [{ sourceKey: 'one', data: response.json() }];
  },
};

function effectsIn(effects: Map<string, RecordedEffect>): EffectsRecorder {
  return {
    find: async (key) => effects.get(key),
    record: async (effect) => {
      if (!effects.has(effect.key)) effects.set(effect.key, effect);
    },
  };
}

function stepContext(step: PipelineStep, engineData: EngineData, effects: EffectsRecorder, handlerConfig: unknown = {}): StepContext {
  const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  return { tenantId: 't', agentId: 'a', pipelineId: 'p', flowId: 'f', jobId: 'job-1', step, logger, engineData, effects, handlerConfig, signal: new AbortController().signal };
}

describe('handler steps', () => {
  const upsertStep: PipelineStep = { key: 'push', type: 'upsert', handler: 'capture', config: {} };
  const publishStep: PipelineStep = { key: 'push', type: 'publish', handler: 'capture', config: {} };
  const itemData: EngineData = { item: { sourceKey: 'post-7', data: { title: 'seven' } }, outputs: {} };

  it('hands a handler that names a secret the one the host resolves for its step, and one that names none nothing', async () => {
    const seen: (string | undefined)[] = [];
    const keyed: PublishHandler<Record<string, never>> = { ...capturingPublisher(), slug: 'keyed', secretName: 'api_token', publish: async (_request, _config, call) => (seen.push(call.secret), { id: 'r', created: true }) };
    const plain: PublishHandler<Record<string, never>> = { ...capturingPublisher(), slug: 'plain', publish: async (_request, _config, call) => (seen.push(call.secret), { id: 'r', created: true }) };
    const asked: string[] = [];
    const steps = createHandlerSteps(createHandlerRegistry([keyed, plain]), {
      secrets: { forStep: async ({ flowId, stepKey, handler }) => (asked.push(`${flowId}/${stepKey}/${handler.slug}`), handler.secretName === undefined ? undefined : 'the token') },
    });
    await steps.publish.execute({ value: {} }, stepContext({ key: 'push', type: 'publish', handler: 'keyed', config: {} }, { outputs: {} }, effectsIn(new Map())));
    await steps.publish.execute({ value: {} }, stepContext({ key: 'push', type: 'publish', handler: 'plain', config: {} }, { outputs: {} }, effectsIn(new Map())));
    expect(seen).toEqual(['the token', undefined]);
    expect(asked).toEqual(['f/push/keyed', 'f/push/plain']);
  });

  it('passes an upsert the job item source key as itemKey, under the publish effect key', async () => {
    const publisher = capturingPublisher();
    const steps = createHandlerSteps(createHandlerRegistry([publisher]));
    await steps.upsert.execute({ value: { title: 'seven' } }, stepContext(upsertStep, itemData, effectsIn(new Map())));
    expect(publisher.requests).toEqual([{ body: { title: 'seven' }, idempotencyKey: publishEffectKey('job-1', 'push'), itemKey: 'post-7' }]);
  });

  it('passes a plain publish no itemKey', async () => {
    const publisher = capturingPublisher();
    const steps = createHandlerSteps(createHandlerRegistry([publisher]));
    await steps.publish.execute({ value: { title: 'seven' } }, stepContext(publishStep, itemData, effectsIn(new Map())));
    expect(publisher.requests).toEqual([{ body: { title: 'seven' }, idempotencyKey: publishEffectKey('job-1', 'push') }]);
  });

  it('does not publish again what an ai step already published through its tool: the recorded result comes back', async () => {
    const publisher = capturingPublisher();
    const steps = createHandlerSteps(createHandlerRegistry([publisher]));
    const effects = new Map<string, RecordedEffect>([
      [publishEffectKey('job-1', 'push'), { key: publishEffectKey('job-1', 'push'), kind: 'publish', detail: { step: 'push', handler: 'capture', id: 'remote-ai', created: true } }],
    ]);
    const result = await steps.publish.execute({ value: { title: 'seven' } }, stepContext(publishStep, itemData, effectsIn(effects)));
    expect(result).toEqual({ kind: 'output', output: { id: 'remote-ai', created: false } });
    expect(publisher.requests).toEqual([]);
  });

  describe('the HTTP client handed to handlers', () => {
    let server: Server;
    let url: string;
    const fetchStep: PipelineStep = { key: 'probe', type: 'fetch', handler: 'http_probe', config: {} };
    beforeAll(async () => {
      server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"local"}'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('refuses private addresses by default (handler.address_refused)', async () => {
      const steps = createHandlerSteps(createHandlerRegistry([httpFetcher]));
      await expect(steps.fetch.execute({ value: null }, stepContext(fetchStep, { outputs: {} }, effectsIn(new Map()), { url }))).rejects.toMatchObject({ code: 'handler.address_refused' });
    });

    it('reaches a local service through a client that allows private addresses', async () => {
      const steps = createHandlerSteps(createHandlerRegistry([httpFetcher]), { http: createHandlerHttpClient({ allowPrivateAddresses: true }) });
      const result = await steps.fetch.execute({ value: null }, stepContext(fetchStep, { outputs: {} }, effectsIn(new Map()), { url }));
      expect(result).toEqual({ kind: 'items', items: [{ sourceKey: 'one', data: { hello: 'local' } }] });
    });
  });
});
