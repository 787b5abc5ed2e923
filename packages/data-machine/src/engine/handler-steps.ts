import { DataMachineError } from '../errors';
import type { HandlerContext } from '../handlers/handler';
import type { HandlerRegistry } from '../handlers/handler-registry';
import type { Step, StepContext } from '../steps/step';

/**
 * The `fetch`, `publish` and `upsert` steps over the host's handlers. All
 * three are retry-safe: a fetch only reads, and a publish handler is
 * idempotent per key (`<job>/<step>`, stable across retries of the job).
 */
export function createHandlerSteps(handlers: HandlerRegistry): { readonly fetch: Step; readonly publish: Step; readonly upsert: Step } {
  const fetch: Step = {
    type: 'fetch',
    retrySafe: true,
    async execute(_input, context) {
      const handler = handlers.get(handlerSlug(context));
      if (handler.kind !== 'fetch') throw wrongKind(context);
      return { kind: 'items', items: await handler.fetch(context.handlerConfig, handlerContext(context)) };
    },
  };
  const publishStep = (type: 'publish' | 'upsert'): Step => ({
    type,
    retrySafe: true,
    async execute(input, context) {
      const handler = handlers.get(handlerSlug(context));
      if (handler.kind !== 'publish') throw wrongKind(context);
      const result = await handler.publish({ body: input.value, idempotencyKey: `${context.jobId}/${context.step.key}` }, context.handlerConfig, handlerContext(context));
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

function handlerContext(context: StepContext): HandlerContext {
  return { tenantId: context.tenantId, agentId: context.agentId, flowId: context.flowId, jobId: context.jobId, stepKey: context.step.key, logger: context.logger, signal: context.signal };
}
