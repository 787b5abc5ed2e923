import { AgentsApiError } from '../errors';
import { createMessage } from '../messages/message';
import type { ModelProvider, ModelRequest, ModelResponseFormat, ModelUsage } from './model-provider';

/** One prompt for {@link completeOnce}. */
export interface CompleteOnceRequest {
  readonly prompt: string;
  readonly instructions?: string;
  /** Overrides the provider's default model. */
  readonly model?: string;
  readonly temperature?: number;
  readonly topP?: number;
  readonly maxOutputTokens?: number;
  /** E.g. `{ type: 'json_schema', name, schema, strict: true }` for a structured answer. */
  readonly responseFormat?: ModelResponseFormat;
  readonly stop?: string | readonly string[];
  readonly signal?: AbortSignal;
}

/** The text of a one-shot completion, with what it cost. */
export interface CompleteOnceResult {
  readonly text: string;
  readonly usage: ModelUsage;
  /** The model that answered, as the provider reports it. */
  readonly model: string;
}

/**
 * A single completion of one prompt, without the runner: no tools, no
 * conversation, nothing stored.
 *
 * @throws AgentsApiError `provider.bad_response` when the model answers with no
 * text, and any `provider.*` error of the provider.
 *
 * @example
 * const { text } = await completeOnce(provider, { prompt: 'Name three rivers.', instructions: 'Answer in one line.' });
 */
export async function completeOnce(provider: ModelProvider, request: CompleteOnceRequest): Promise<CompleteOnceResult> {
  const { prompt, signal, ...settings } = request;
  const modelRequest: ModelRequest = {
    ...settings,
    messages: [createMessage({ type: 'text', role: 'user', content: prompt, payload: {} })],
  };
  const response = await provider.complete(modelRequest, signal === undefined ? {} : { signal });
  if (response.content === null || response.content.trim() === '') {
    throw new AgentsApiError('provider.bad_response', `${provider.name}: the model answered without text`, {
      details: { finishReason: response.finishReason, toolCalls: response.toolCalls.length },
    });
  }
  return { text: response.content, usage: response.usage, model: response.model };
}
