import { z } from 'zod';
import { describeInputIssues, inputIssues, safeParseInput } from '../../input-issues';
import { promptBodySchema } from '../../queues/queue';
import type { EngineData, StepInput } from '../step';
import { aiError } from './ai-step-failure';

/**
 * An `ai` step's own configuration (the pipeline step's `config`): a default
 * `prompt` for runs whose prompt queue gave none, and the most model calls
 * one run may make (default 8).
 */
export const aiStepConfigSchema = z.strictObject({
  prompt: promptBodySchema.optional(),
  maxTurns: z.int().min(1).max(50).default(8),
});
export type AiStepConfig = z.infer<typeof aiStepConfigSchema>;

/** The step's configuration, or `ai.invalid_input` naming each bad field. */
export function parseAiStepConfig(config: unknown): AiStepConfig {
  const parsed = safeParseInput(aiStepConfigSchema, config ?? {});
  if (parsed.success) return parsed.data;
  const issues = inputIssues(parsed.error);
  throw aiError('ai.invalid_input', describeInputIssues('ai step configuration', issues), { issues });
}

/**
 * The run's user message: the queued prompt (else the step's default
 * prompt), followed by the item's data, the step input (the previous step's
 * output) or else the job's item. Neither a prompt nor data is
 * `ai.invalid_input`: there would be nothing to ask.
 */
export function composeUserMessage(input: StepInput, config: AiStepConfig, engineData: Readonly<EngineData>): string {
  const prompt = input.prompt ?? config.prompt;
  const data = input.value !== undefined ? input.value : engineData.item?.data;
  const parts = [
    ...(prompt === undefined ? [] : [prompt]),
    ...(data === undefined || data === null ? [] : [`Item:\n${typeof data === 'string' ? data : JSON.stringify(data, null, 2)}`]),
  ];
  if (parts.length === 0) {
    throw aiError('ai.invalid_input', 'The ai step has nothing to ask: no queued prompt, no default prompt and no item data.');
  }
  return parts.join('\n\n');
}
