/** A tool call the scripted model makes. `arguments` objects are sent as JSON text. */
export interface ScriptedToolCall {
  /** Defaults to a server-unique `call_<n>`. */
  readonly id?: string;
  readonly name: string;
  readonly arguments: string | Readonly<Record<string, unknown>>;
}

/** Token usage to report; computed from the text (4 characters a token) when absent. */
export interface ScriptedUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Sent as `prompt_tokens_details.cached_tokens`. */
  readonly cachedPromptTokens?: number;
  /** Sent as `completion_tokens_details.reasoning_tokens`. */
  readonly reasoningTokens?: number;
}

/** Delays that make a reply slow: before the response starts, and between stream chunks. */
export interface ScriptedTiming {
  readonly delayMs?: number;
  readonly chunkDelayMs?: number;
}

/**
 * What the model server answers to one chat completion request.
 * - `message`: an assistant message with text, tool calls (several means
 *   parallel tool calls), or both; streamed when the request asks for it.
 * - `error`: an OpenAI-shaped error with `status`; `retryAfterSeconds` sets
 *   the `retry-after` header.
 * - `malformed`: a 200 whose body is not the JSON it claims to be.
 */
export type ModelReply =
  | ({
      readonly type: 'message';
      readonly content?: string | null;
      readonly toolCalls?: readonly ScriptedToolCall[];
      readonly finishReason?: 'stop' | 'tool_calls' | 'length' | 'content_filter';
      /** `null` sends no `usage` at all, as some compatible servers do. */
      readonly usage?: ScriptedUsage | null;
    } & ScriptedTiming)
  | ({
      readonly type: 'error';
      readonly status: number;
      readonly message?: string;
      readonly code?: string;
      readonly retryAfterSeconds?: number;
    } & ScriptedTiming)
  | ({ readonly type: 'malformed'; readonly body?: string } & ScriptedTiming);

/** Shorthand for a text reply. */
export function textReply(content: string, extra: Omit<Extract<ModelReply, { type: 'message' }>, 'type' | 'content'> = {}): ModelReply {
  return { type: 'message', content, ...extra };
}

/** Shorthand for a reply that calls tools (in parallel when given several). */
export function toolCallReply(...toolCalls: ScriptedToolCall[]): ModelReply {
  return { type: 'message', content: null, toolCalls };
}

/** Shorthand for an error reply. */
export function errorReply(status: number, extra: Omit<Extract<ModelReply, { type: 'error' }>, 'type' | 'status'> = {}): ModelReply {
  return { type: 'error', status, ...extra };
}
