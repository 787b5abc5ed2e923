import { describe, expect, it } from 'vitest';
import { createHandlerRegistry } from '../handlers/handler-registry';
import { checkPipelineSteps } from '../pipelines/pipeline-steps';
import { codeOf } from '../../test/support/identity-fixture';
import { digestStepConfig, digestSteps, issuesThrown, schemaHandlers } from '../../test/support/pipeline-fixture';
import { checkFlowStepConfig, effectiveHandlerConfig, mergeConfig } from './flow-step-config';

const handlers = schemaHandlers();
const steps = checkPipelineSteps(digestSteps, handlers);

function issuesOf(config: unknown): unknown {
  return issuesThrown('flow.invalid_config', () => checkFlowStepConfig(config, steps, handlers));
}

describe('flow step configuration', () => {
  it('accepts a full configuration and returns it as given', () => {
    expect(checkFlowStepConfig(digestStepConfig, steps, handlers)).toEqual(digestStepConfig);
  });

  it('names the missing handler field by its path', () => {
    expect(issuesOf({ fetch: digestStepConfig.fetch })).toEqual([{ path: 'steps.store.handlerConfig.collection', message: expect.any(String) }]);
  });

  it('names a bad nested handler field by its path', () => {
    expect(issuesOf({ ...digestStepConfig, fetch: { handlerConfig: { items: [{ title: 'no id' }] } } })).toEqual([
      { path: 'steps.fetch.handlerConfig.items.0.id', message: expect.any(String) },
    ]);
  });

  it('refuses configuration of a step the pipeline does not have', () => {
    expect(issuesOf({ ...digestStepConfig, publish: { handlerConfig: {} } })).toEqual([{ path: 'steps.publish', message: expect.any(String) }]);
  });

  it('refuses a handler configuration on an ai step, and queues on steps that have none', () => {
    expect(issuesOf({ ...digestStepConfig, summarize: { handlerConfig: { model: 'x' }, queues: { config_patch: 'drain' } } })).toEqual([
      { path: 'steps.summarize.handlerConfig', message: expect.any(String) },
      { path: 'steps.summarize.queues.config_patch', message: expect.any(String) },
    ]);
    expect(issuesOf({ ...digestStepConfig, store: { ...digestStepConfig.store, queues: { prompt: 'static' } } })).toEqual([
      { path: 'steps.store.queues.prompt', message: expect.any(String) },
    ]);
  });

  it('refuses an unknown queue mode and unknown fields', () => {
    expect(issuesOf({ ...digestStepConfig, summarize: { queues: { prompt: 'shuffle' } } })).toEqual([{ path: 'steps.summarize.queues.prompt', message: expect.any(String) }]);
    expect(issuesOf({ ...digestStepConfig, store: { ...digestStepConfig.store, retries: 3 } })).toEqual([{ path: 'steps.store', message: expect.any(String) }]);
  });

  it('runs with the step default, the flow configuration and a patch merged, defaults applied', () => {
    const [fetch] = steps;
    const patched = effectiveHandlerConfig(fetch!, digestStepConfig.fetch, handlers, { items: [{ id: 'z' }] });
    expect(patched).toEqual({ keyField: 'id', items: [{ id: 'z' }] });
  });

  it('refuses a patch that breaks the configuration, naming the field, and a handler no longer registered', async () => {
    const [fetch] = steps;
    expect(issuesThrown('flow.invalid_config', () => effectiveHandlerConfig(fetch!, digestStepConfig.fetch, handlers, { items: 'none' }))).toEqual([
      { path: 'steps.fetch.handlerConfig.items', message: expect.any(String) },
    ]);
    expect(await codeOf(Promise.resolve().then(() => effectiveHandlerConfig(fetch!, digestStepConfig.fetch, createHandlerRegistry())))).toBe('handler.not_found');
  });

  it('merges objects deeply, replaces arrays, and keeps "__proto__" as data', () => {
    const merged = mergeConfig({ a: { b: 1, c: [1, 2] }, d: 1 }, JSON.parse('{"a":{"c":[3]},"__proto__":{"polluted":true}}') as Record<string, unknown>);
    expect(merged).toEqual(JSON.parse('{"a":{"b":1,"c":[3]},"d":1,"__proto__":{"polluted":true}}'));
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect((merged as { polluted?: unknown }).polluted).toBeUndefined();
  });
});
