// `@data-machine/agents-api/openai`: the OpenAI provider and the OpenAI chat converters.
// A subpath of its own so the main entry stays vendor-free: only this entry imports
// `openai`, an optional peer dependency a caller installs when they use it.
export { createOpenAIProvider, defaultOpenAIMaxRetries, defaultOpenAITimeoutMs } from '../providers/openai-provider';
export type { OpenAIProviderOptions } from '../providers/openai-provider';
export { fromOpenAIChatMessage, fromOpenAIChatMessages, toOpenAIChatMessages } from '../messages/openai-chat-format';
export type { FromOpenAIChatOptions, OpenAIChatConvertibleMessage } from '../messages/openai-chat-format';
