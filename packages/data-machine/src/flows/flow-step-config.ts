import { z } from 'zod';
import type { HandlerRegistry } from '../handlers/handler-registry';
import { slugSchema } from '../input';
import { queueModeSchema } from '../queues/queue';
import { secretNameSchema } from '../secrets/secret-name';
import { isHandlerStepType, jsonObjectSchema, type JsonObject, type PipelineStep } from '../steps/step';
import { safeParseInput } from '../input-issues';
import { throwIssues, zodIssues, type ValidationIssue } from '../steps/validation-issues';

/**
 * A flow's configuration of one step: the handler configuration (over the
 * pipeline step's default), its queues' modes, and which of the agent's
 * secrets the handler gets (default: the one named like the handler's
 * `secretName`). A flow names a secret; it never holds one.
 */
export const flowStepConfigSchema = z.strictObject({
  handlerConfig: jsonObjectSchema.optional(),
  secret: secretNameSchema.optional(),
  queues: z.strictObject({ prompt: queueModeSchema.optional(), config_patch: queueModeSchema.optional() }).optional(),
});
export type FlowStepConfig = z.infer<typeof flowStepConfigSchema>;

/** A flow's configuration of its pipeline's steps, by step key. */
export const flowStepConfigsSchema = z.record(slugSchema, flowStepConfigSchema);
export type FlowStepConfigs = z.infer<typeof flowStepConfigsSchema>;

/**
 * Validates a flow's step configuration against its pipeline's steps and
 * returns it, or throws `flow.invalid_config` naming every problem by path
 * (`steps.publish.handlerConfig.collection`). Every handler step's effective
 * configuration (the step's default deep-merged with the flow's) must pass its
 * handler's schema; only handler steps take a handler configuration, only an
 * `ai` step has a prompt queue and only a `fetch` step a config-patch queue.
 * `details.flow` names the flow when given.
 */
export function checkFlowStepConfig(input: unknown, steps: readonly PipelineStep[], handlers: HandlerRegistry, flowSlug?: string): FlowStepConfigs {
  const parsed = safeParseInput(flowStepConfigsSchema, input ?? {});
  const details = flowSlug === undefined ? {} : { flow: flowSlug };
  if (!parsed.success) throwIssues('flow.invalid_config', 'flow configuration', zodIssues(parsed.error, ['steps']), details);
  const configs = parsed.success ? parsed.data : {};
  const byKey = new Map(steps.map((step) => [step.key, step]));
  const issues: ValidationIssue[] = [];
  for (const [key, config] of Object.entries(configs)) {
    const step = byKey.get(key);
    if (!step) issues.push({ path: `steps.${key}`, message: `the pipeline has no step "${key}"` });
    else issues.push(...placementIssues(step, config));
  }
  for (const step of steps) issues.push(...handlerConfigIssues(step, configs[step.key], handlers));
  throwIssues('flow.invalid_config', 'flow configuration', issues, details);
  return configs;
}

function placementIssues(step: PipelineStep, config: FlowStepConfig): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const path = `steps.${step.key}`;
  if (config.handlerConfig !== undefined && !isHandlerStepType(step.type)) issues.push({ path: `${path}.handlerConfig`, message: `a ${step.type} step has no handler to configure` });
  if (config.secret !== undefined && !isHandlerStepType(step.type)) issues.push({ path: `${path}.secret`, message: `a ${step.type} step has no handler to hand a secret to` });
  if (config.queues?.prompt !== undefined && step.type !== 'ai') issues.push({ path: `${path}.queues.prompt`, message: 'only an ai step has a prompt queue' });
  if (config.queues?.config_patch !== undefined && step.type !== 'fetch') issues.push({ path: `${path}.queues.config_patch`, message: 'only a fetch step has a config-patch queue' });
  return issues;
}

function handlerConfigIssues(step: PipelineStep, config: FlowStepConfig | undefined, handlers: HandlerRegistry): ValidationIssue[] {
  if (!('handler' in step)) return [];
  const path = ['steps', step.key, 'handlerConfig'];
  const handler = handlers.find(step.handler);
  if (!handler) return [{ path: `steps.${step.key}`, message: `the step's handler "${step.handler}" is not registered` }];
  const parsed = safeParseInput(handler.configSchema, mergeConfig(step.config, config?.handlerConfig ?? {}));
  return parsed.success ? [] : zodIssues(parsed.error, path);
}

/**
 * The configuration a handler step runs with: the pipeline step's default,
 * deep-merged with the flow's and then with `patch` (a config-patch queue
 * entry), parsed by the handler's schema (defaults applied). Throws
 * `flow.invalid_config` when the result does not pass.
 */
export function effectiveHandlerConfig(step: PipelineStep, config: FlowStepConfig | undefined, handlers: HandlerRegistry, patch: JsonObject = {}): unknown {
  if (!('handler' in step)) return undefined;
  const handler = handlers.get(step.handler);
  const parsed = safeParseInput(handler.configSchema, mergeConfig(mergeConfig(step.config, config?.handlerConfig ?? {}), patch));
  if (!parsed.success) throwIssues('flow.invalid_config', 'handler configuration', zodIssues(parsed.error, ['steps', step.key, 'handlerConfig']));
  return parsed.success ? parsed.data : undefined;
}

/** `over` deep-merged into `base`: objects merge key by key; arrays and other values replace. */
export function mergeConfig(base: JsonObject, over: JsonObject): JsonObject {
  const merged: JsonObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    // defineProperty, not assignment: a JSON key "__proto__" must stay data, never become the prototype.
    Object.defineProperty(merged, key, { value: isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : value, enumerable: true, writable: true, configurable: true });
  }
  return merged;
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
