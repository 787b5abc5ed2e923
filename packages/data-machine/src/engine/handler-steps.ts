import { DataMachineError } from '../errors';
import type { PublishResult } from '../handlers/handler';
import { handlerEffectsFor } from '../handlers/handler-effect';
import type { HandlerSecrets } from '../secrets/handler-secrets';
import type { HandlerRegistry } from '../handlers/handler-registry';
import { createHandlerNetwork, type HandlerHttp } from '../handlers/http/handler-network';
import { declinedEffectKind, publishEffectKey, recordedPublishResult } from '../steps/ai/publish-tools';
import type { Step, StepContext } from '../steps/step';
import { stepHandlerContext } from '../steps/step-handler-context';

/** Options of {@link createHandlerSteps}. */
export interface HandlerStepsOptions {
  /**
   * What handlers reach the network through (`HandlerContext.http`).
   * Default: `createHandlerNetwork()`, which refuses private, loopback and
   * link-local addresses except to tenants the operator allows them; one
   * client built with `allowPrivateAddresses` serves every tenant (tests
   * against local services).
   */
  readonly http?: HandlerHttp;
  /** Where a handler's credential comes from (`HandlerContext.secret`); without it handlers get none. */
  readonly secrets?: HandlerSecrets;
}

/**
 * The `fetch`, `publish` and `upsert` steps over the host's handlers. All
 * three are retry-safe: a fetch only reads, and a publish is idempotent per
 * key (`publishEffectKey(job, step)`, stable across retries of the job and
 * the same key an `ai` step's publish tool uses). A publish an earlier `ai`
 * step already made through its tool is returned, not sent again. An
 * `upsert` passes the job's item source key as `itemKey`.
 */
export function createHandlerSteps(handlers: HandlerRegistry, options: HandlerStepsOptions = {}): { readonly fetch: Step; readonly publish: Step; readonly upsert: Step } {
  const http = options.http ?? createHandlerNetwork();
  const fetch: Step = {
    type: 'fetch',
    retrySafe: true,
    async execute(_input, context) {
      const handler = handlers.get(handlerSlug(context));
      if (handler.kind !== 'fetch') throw wrongKind(context);
      return { kind: 'items', items: await handler.fetch(context.handlerConfig, await stepHandlerContext(context, { stepKey: context.step.key, handler, signal: context.signal, http, secrets: options.secrets })) };
    },
  };
  const publishStep = (type: 'publish' | 'upsert'): Step => ({
    type,
    retrySafe: true,
    async execute(input, context) {
      const handler = handlers.get(handlerSlug(context));
      if (handler.kind !== 'publish') throw wrongKind(context);
      const key = publishEffectKey(context.jobId, context.step.key);
      const recorded = await context.effects.find(key);
      // A human rejected the publish the ai step held for approval: nothing is sent.
      if (recorded?.kind === declinedEffectKind) return { kind: 'output', output: { declined: true, reason: recorded.detail.reason ?? null } };
      if (recorded) return { kind: 'output', output: { ...recordedPublishResult(recorded.detail), created: false } satisfies PublishResult };
      const itemKey = type === 'upsert' ? context.engineData.item?.sourceKey : undefined;
      const call = { ...(await stepHandlerContext(context, { stepKey: context.step.key, handler, signal: context.signal, http, secrets: options.secrets })), effects: handlerEffectsFor(context.effects, context.step.key, handler.slug) };
      const result = await handler.publish({ body: input.value, idempotencyKey: key, ...(itemKey === undefined ? {} : { itemKey }) }, context.handlerConfig, call);
      return { kind: 'output', output: result };
    },
  });
  return { fetch, publish: publishStep('publish'), upsert: publishStep('upsert') };
}

function handlerSlug(context: StepContext): string {
  if (!('handler' in context.step)) throw wrongKind(context);
  return context.step.handler;
}

function wrongKind(context: StepContext): DataMachineError {
  return new DataMachineError('pipeline.invalid_steps', `Step "${context.step.key}" names no handler of the kind a ${context.step.type} step calls.`, { details: { step: context.step.key } });
}
