import type { HandlerRegistry } from '../handlers/handler-registry';
import { isHandlerStepType, pipelineStepSchema, stepHandlerKinds, maxPipelineSteps, type PipelineStep } from '../steps/step';
import { aiStepConfigSchema } from '../steps/ai/ai-step-input';
import { webhookGateConfigSchema } from '../steps/webhook-gate/webhook-gate-step';
import { safeParseInput } from '../input-issues';
import { throwIssues, zodIssues, type ValidationIssue } from '../steps/validation-issues';

/**
 * Validates a pipeline's steps and returns them with defaults applied, or
 * throws `pipeline.invalid_steps` naming every problem by path (`steps.1.handler`).
 * The rules (docs/decisions/2026-12-01-pipelines-and-flows.md):
 * - one to {@link maxPipelineSteps} steps, each of {@link pipelineStepSchema}'s shape;
 * - keys unique in the pipeline;
 * - a handler step names a registered handler of the kind its type needs;
 * - at most one `fetch`, and it is the first step (a fetch fans out into the rest);
 * - at most one `webhook_gate` in a row: two in a row wait for nothing more;
 * - a `webhook_gate`'s config is `{ timeoutSeconds? }` (1 s to 30 days);
 * - an `ai` step's config is `{ prompt?, maxTurns? }` (the stored config is kept as given, without defaults).
 */
export function checkPipelineSteps(input: unknown, handlers: HandlerRegistry): PipelineStep[] {
  if (!Array.isArray(input)) return fail([{ path: 'steps', message: 'steps are an array' }]);
  const issues: ValidationIssue[] = [];
  if (input.length === 0) issues.push({ path: 'steps', message: 'a pipeline has at least one step' });
  if (input.length > maxPipelineSteps) issues.push({ path: 'steps', message: `a pipeline has at most ${maxPipelineSteps} steps` });
  const steps: PipelineStep[] = [];
  input.forEach((value: unknown, index) => {
    const parsed = safeParseInput(pipelineStepSchema, value);
    if (!parsed.success) {
      issues.push(...zodIssues(parsed.error, ['steps', index]));
      return;
    }
    steps.push(parsed.data);
    issues.push(...stepIssues(parsed.data, index, handlers));
  });
  if (issues.length === 0) issues.push(...orderIssues(steps));
  return fail(issues, steps);
}

function stepIssues(step: PipelineStep, index: number, handlers: HandlerRegistry): ValidationIssue[] {
  if (step.type === 'webhook_gate') {
    const parsed = safeParseInput(webhookGateConfigSchema, step.config);
    return parsed.success ? [] : zodIssues(parsed.error, ['steps', index, 'config']);
  }
  if (step.type === 'ai') {
    // Checked here, not only when a job runs the step: a misspelt `promt` would otherwise fail every run.
    const parsed = safeParseInput(aiStepConfigSchema, step.config);
    return parsed.success ? [] : zodIssues(parsed.error, ['steps', index, 'config']);
  }
  if (!isHandlerStepType(step.type) || !('handler' in step)) return [];
  const handler = handlers.find(step.handler);
  const path = `steps.${index}.handler`;
  if (!handler) return [{ path, message: `there is no handler "${step.handler}"` }];
  const needed = stepHandlerKinds[step.type];
  if (handler.kind !== needed) return [{ path, message: `a ${step.type} step needs a ${needed} handler; "${handler.slug}" is a ${handler.kind} handler` }];
  return [];
}

function orderIssues(steps: readonly PipelineStep[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  steps.forEach((step, index) => {
    if (seen.has(step.key)) issues.push({ path: `steps.${index}.key`, message: `the key "${step.key}" is used by an earlier step` });
    seen.add(step.key);
    if (step.type === 'fetch' && index > 0) issues.push({ path: `steps.${index}.type`, message: 'a fetch step must be the first step, and a pipeline has at most one' });
    if (step.type === 'webhook_gate' && steps[index - 1]?.type === 'webhook_gate') {
      issues.push({ path: `steps.${index}.type`, message: 'two webhook gates in a row wait for nothing more than one' });
    }
  });
  return issues;
}

function fail(issues: readonly ValidationIssue[], steps: PipelineStep[] = []): PipelineStep[] {
  throwIssues('pipeline.invalid_steps', 'pipeline steps', issues);
  return steps;
}
