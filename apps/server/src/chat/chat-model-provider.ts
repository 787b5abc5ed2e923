import type { ModelProvider } from '@data-machine/agents-api';
import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import type { ServerConfig } from '../config/config';

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
  /** Retries of a failed model request; the provider's default (2) when absent. */
  readonly maxRetries?: number;
}

/**
 * The chat model of the server, for `buildApp({ chat })`: the substrate's
 * OpenAI provider on an OpenAI-compatible endpoint.
 *
 * @example
 * buildApp({ database, chat: createChatModelProvider({ baseUrl: config.openaiBaseUrl, apiKey: config.openaiApiKey, defaultModel: config.defaultModel }) });
 */
export function createChatModelProvider({ baseUrl, apiKey, defaultModel, maxRetries }: ChatModelProviderOptions): ChatModel {
  const provider = createOpenAIProvider({ apiKey, model: defaultModel, ...(baseUrl === undefined ? {} : { baseURL: baseUrl }), ...(maxRetries === undefined ? {} : { maxRetries }) });
  return { provider, defaultModel };
}

/**
 * The model of the server's configuration (`OPENAI_BASE_URL`, `OPENAI_API_KEY`,
 * `DEFAULT_MODEL`), shared by chat and the `ai` step; undefined when neither
 * an endpoint nor a key is set (then agents cannot run). A local
 * OpenAI-compatible server may take no key; the client needs one all the same.
 */
export function configuredChatModel(model: ServerConfig['model']): ChatModel | undefined {
  if (model.apiKey === undefined && model.baseURL === undefined) return undefined;
  return createChatModelProvider({ baseUrl: model.baseURL, apiKey: model.apiKey ?? 'not-set', defaultModel: model.defaultModel });
}
