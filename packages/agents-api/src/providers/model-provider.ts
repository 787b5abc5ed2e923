import type { AgentMessage, ToolCall } from '../messages/message';

/** A tool as the model is told about it: its input schema as JSON Schema. */
export interface ModelToolSpec {
  readonly name: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

/** One model call. */
export interface ModelRequest {
  /** The system prompt; sent first, never part of `messages` (and never stored). */
  readonly instructions?: string;
  /** The conversation so far; only model-visible types are sent (text, tool_call, tool_result). */
  readonly messages: readonly AgentMessage[];
  readonly tools?: readonly ModelToolSpec[];
  /** Overrides the provider's default model. */
  readonly model?: string;
  readonly temperature?: number;
  readonly maxOutputTokens?: number;
}

/** Tokens used; zero where a provider does not report them. */
export interface ModelUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly totalTokens: number;
}

/** Why the model stopped. */
export type ModelFinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter' | 'other';

/** What one model call produced. */
export interface ModelResponse {
  /** The assistant's text, or null when it only called tools. */
  readonly content: string | null;
  /** The tool calls asked for, in order; several means parallel calls. */
  readonly toolCalls: readonly ToolCall[];
  readonly finishReason: ModelFinishReason;
  readonly usage: ModelUsage;
  /** The model that answered, as the provider reports it. */
  readonly model: string;
}

/** What a streamed model call yields: text as it arrives, then the whole response once. */
export type ModelStreamEvent =
  | { readonly type: 'text-delta'; readonly text: string }
  | { readonly type: 'tool-call-delta'; readonly index: number; readonly toolCallId?: string; readonly toolName?: string; readonly argumentsDelta: string }
  | { readonly type: 'response'; readonly response: ModelResponse };

/** Per-call options. */
export interface ModelCallOptions {
  /** Aborting rejects with `provider.cancelled` (or ends the stream with it). */
  readonly signal?: AbortSignal;
}

/**
 * A model behind one interface. Implementations throw `AgentsApiError` with a
 * `provider.*` code: `auth_failed`, `rate_limited`, `timeout`, `unavailable`,
 * `bad_request`, `bad_response`, `cancelled`.
 */
export interface ModelProvider {
  /** For logs and errors, e.g. `openai`. */
  readonly name: string;
  complete(request: ModelRequest, options?: ModelCallOptions): Promise<ModelResponse>;
  /** Yields `text-delta`s and ends with exactly one `response`. */
  stream(request: ModelRequest, options?: ModelCallOptions): AsyncIterable<ModelStreamEvent>;
}

/** Sums usage. */
export function addUsage(left: ModelUsage, right: ModelUsage): ModelUsage {
  return {
    inputTokens: left.inputTokens + right.inputTokens,
    outputTokens: left.outputTokens + right.outputTokens,
    totalTokens: left.totalTokens + right.totalTokens,
  };
}

/** Usage of nothing. */
export const emptyUsage: ModelUsage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
