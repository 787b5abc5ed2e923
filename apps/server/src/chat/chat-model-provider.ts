import type { ModelProvider } from '@data-machine/agents-api';
import { createOpenAIProvider } from '@data-machine/agents-api/openai';

/** The model chat turns run on: a provider, and the model an agent without one of its own uses. */
export interface ChatModel {
  readonly provider: ModelProvider;
  readonly defaultModel: string;
}

/** What {@link createChatModelProvider} takes: an OpenAI-compatible endpoint (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, `DEFAULT_MODEL`). */
export interface ChatModelProviderOptions {
  /** e.g. `https://api.openai.com/v1`; absent: the SDK's default. */
  readonly baseUrl?: string;
  readonly apiKey: string;
  readonly defaultModel: string;
}

/**
 * The chat model of the server, for `buildApp({ chat })`: the substrate's
 * OpenAI provider on an OpenAI-compatible endpoint.
 *
 * @example
 * buildApp({ database, chat: createChatModelProvider({ baseUrl: config.openaiBaseUrl, apiKey: config.openaiApiKey, defaultModel: config.defaultModel }) });
 */
export function createChatModelProvider({ baseUrl, apiKey, defaultModel }: ChatModelProviderOptions): ChatModel {
  const provider = createOpenAIProvider({ apiKey, model: defaultModel, ...(baseUrl === undefined ? {} : { baseURL: baseUrl }) });
  return { provider, defaultModel };
}
