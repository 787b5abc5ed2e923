import { defineTool, filterTools, type AnyToolDefinition, type CompletionPolicy, type RunState, type ToolExecutionContext } from '@data-machine/agents-api';
import { z } from 'zod';
import type { DataMachineContext } from '../../context';
import { DataMachineError } from '../../errors';
import { effectiveHandlerConfig } from '../../flows/flow-step-config';
import type { HandlerContext, PublishHandler, PublishResult } from '../../handlers/handler';
import { handlerEffectsFor } from '../../handlers/handler-effect';
import type { HandlerRegistry } from '../../handlers/handler-registry';
import type { HandlerHttp } from '../../handlers/http/handler-network';
import type { HandlerSecrets } from '../../secrets/handler-secrets';
import { stepHandlerContext } from '../step-handler-context';
import type { PipelineStep, StepContext } from '../step';
import type { AiStepWorld } from './ai-step-world';

/** A later `publish` or `upsert` step of the pipeline, offered to the model as a tool the run must call. */
export interface PublishTool {
  readonly stepKey: string;
  readonly toolName: string;
  readonly tool: AnyToolDefinition;
}

/**
 * The key a publish of step `stepKey` in job `jobId` is recorded under
 * (`context.effects`) and sent to the handler with: stable across retries, and
 * the same whether the `ai` step published through its tool or the publish
 * step itself does, so the handler sends each job's publish once.
 */
export function publishEffectKey(jobId: string, stepKey: string): string {
  return `publish:${jobId}:${stepKey}`;
}

/**
 * The effect kind an `ai` step records under a publish step's key when a
 * human rejected its publish: the publish step then skips instead of
 * publishing the `ai` step's output itself.
 */
export const declinedEffectKind = 'publish_declined';

/** The tool name of a publish step: `publish_<key>` (a step key has no `_`, so names never clash). */
export function publishToolName(stepKey: string): string {
  return `publish_${stepKey}`;
}

/** What {@link preparePublishTools} works with. */
export interface PublishToolsOptions {
  readonly context: DataMachineContext;
  readonly handlers: HandlerRegistry;
  readonly world: AiStepWorld;
  readonly step: StepContext;
  /** Filled as publishes happen (or are found recorded), by publish step key. */
  readonly published: Map<string, PublishResult>;
  /** The network handlers reach out through (`HandlerContext.http`, the tenant's client); without one a handler uses the default guarded client. */
  readonly http?: HandlerHttp;
  /** Where a publish handler's credential comes from (`HandlerContext.secret`), as for the publish steps. */
  readonly secrets?: HandlerSecrets;
}

/**
 * The tools of the publish and upsert steps after the `ai` step, with their
 * handler configuration resolved now (`flow.invalid_config` before any model
 * call) and the publishes earlier attempts recorded already in `published`.
 * Each must pass the agent's tool policy and the acting user's capabilities:
 * one that does not is `ai.tool_denied`, since the run could never complete.
 */
export async function preparePublishTools(options: PublishToolsOptions): Promise<readonly PublishTool[]> {
  const { world, step } = options;
  const later = world.steps.slice(world.steps.findIndex((candidate) => candidate.key === step.step.key) + 1);
  const tools = later.flatMap((candidate) => (candidate.type === 'publish' || candidate.type === 'upsert' ? [publishTool(options, candidate)] : []));
  const { excluded } = filterTools(
    tools.map((entry) => entry.tool),
    { policy: world.agent.effectiveConfig.toolPolicy, principal: world.principal, granted: world.granted },
  );
  const denied = excluded[0];
  if (denied !== undefined) {
    options.context.logger.warn(
      { event: 'access.denied', action: 'ai.publish_tool', reason: denied.reason, tool: denied.toolName, tenantId: step.tenantId, jobId: step.jobId },
      `denied tool ${denied.toolName}: ${denied.reason}`,
    );
    throw new DataMachineError('ai.tool_denied', `The run may not use the required tool "${denied.toolName}" (${denied.reason}); see the agent's tool policy.`, {
      details: { tool: denied.toolName, reason: denied.reason },
    });
  }
  for (const entry of tools) {
    const recorded = await step.effects.find(publishEffectKey(step.jobId, entry.stepKey));
    // A publish a human declined is recorded as such: it is not a publish result.
    if (recorded && recorded.kind !== declinedEffectKind) options.published.set(entry.stepKey, recordedPublishResult(recorded.detail));
  }
  return tools;
}

function publishTool(options: PublishToolsOptions, publishStep: PipelineStep & { readonly handler: string }): PublishTool {
  const { handlers, world, step, published } = options;
  const handler = handlers.get(publishStep.handler);
  if (handler.kind !== 'publish') {
    throw new DataMachineError('handler.invalid_definition', `Step "${publishStep.key}" needs a publish handler; "${handler.slug}" is a ${handler.kind} handler.`, {
      details: { handler: handler.slug, step: publishStep.key },
    });
  }
  const config = effectiveHandlerConfig(publishStep, world.stepConfigs[publishStep.key], handlers);
  const key = publishEffectKey(step.jobId, publishStep.key);
  const toolName = publishToolName(publishStep.key);
  const tool = defineTool({
    name: toolName,
    description: `${handler.description} Call it once with what step "${publishStep.key}" should publish; this step is not done until you have.`,
    input: handler.bodySchema ?? z.record(z.string(), z.unknown()),
    capability: 'use_tools',
    writes: true,
    // The handler's idempotency key makes a second run of the call find the first's publish.
    retrySafe: true,
    execute: async (body: Readonly<Record<string, unknown>>, call: ToolExecutionContext) => {
      const found = await step.effects.find(key);
      const recorded = found?.kind === declinedEffectKind ? undefined : found;
      // A second call (or a retried one) gets the first publish back; the handler is not asked again.
      const result = recorded
        ? { ...recordedPublishResult(recorded.detail), created: false }
        : await publishOnce(handler, body, config, key, {
            ...(await stepHandlerContext(step, { stepKey: publishStep.key, handler, signal: call.signal, http: options.http, secrets: options.secrets })),
            effects: handlerEffectsFor(step.effects, publishStep.key, handler.slug),
          });
      published.set(publishStep.key, result);
      return result;
    },
  });
  return { stepKey: publishStep.key, toolName, tool };

  async function publishOnce(target: PublishHandler, body: unknown, handlerConfig: unknown, idempotencyKey: string, call: HandlerContext): Promise<PublishResult> {
    const itemKey = publishStep.type === 'upsert' ? step.engineData.item?.sourceKey : undefined;
    const result = await target.publish({ body, idempotencyKey, ...(itemKey === undefined ? {} : { itemKey }) }, handlerConfig, call);
    await step.effects.record({ key: idempotencyKey, kind: 'publish', detail: { step: publishStep.key, handler: target.slug, ...result } });
    return result;
  }
}

const recordedResultSchema = z.object({ id: z.string(), created: z.boolean(), url: z.string().optional() });

/** A recorded publish effect's detail, read back as the publish result. */
export function recordedPublishResult(detail: unknown): PublishResult {
  const parsed = recordedResultSchema.safeParse(detail);
  if (parsed.success) return parsed.data;
  throw new DataMachineError('ai.invalid_input', 'A recorded publish effect is not a publish result.', { details: { issues: parsed.error.issues.map((issue) => issue.message) } });
}

/**
 * The completion policy of a run with publish tools: an answer that leaves
 * one uncalled is met with one reminder, and a second such answer ends the
 * run (the step then fails `ai.missing_tool_call`). Reminders are stored in
 * the transcript, so a resumed run never reminds twice.
 */
export function requirePublishCalls(tools: readonly PublishTool[], published: ReadonlyMap<string, PublishResult>, declined: ReadonlyMap<string, string> = new Map()): CompletionPolicy {
  return {
    check(state: RunState) {
      const missing = missingCalls(tools, published, declined);
      if (missing.length === 0 || remindersIn(state) >= 1) return { complete: true };
      return { complete: false, nudge: `You have not called ${missing.join(', ')} yet. This step is not done until each of them has been called once; call them now.` };
    },
  };
}

/** The tool names of the publish steps not published yet, leaving out those a human rejected. */
export function missingCalls(tools: readonly PublishTool[], published: ReadonlyMap<string, PublishResult>, declined: ReadonlyMap<string, string> = new Map()): string[] {
  return tools.filter((entry) => !published.has(entry.stepKey) && !declined.has(entry.stepKey)).map((entry) => entry.toolName);
}

function remindersIn(state: RunState): number {
  return state.messages.filter((message) => message.type === 'text' && message.role === 'system' && message.payload.nudge === true).length;
}
