import type { AgentMessage, ToolCall } from '../messages/message';

/** A tool as the model is told about it: its input schema as JSON Schema. */
export interface ModelToolSpec {
  readonly name: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

/**
 * Which tools the model may or must call: `auto` (the default), `none`,
 * `required` (at least one), or the tool named.
 */
export type ModelToolChoice = 'auto' | 'none' | 'required' | { readonly name: string };

/**
 * The shape of the answer: free text (the default), any JSON object, or JSON
 * that follows `schema` (a JSON Schema; `strict` asks the provider to enforce it).
 */
export type ModelResponseFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | {
      readonly type: 'json_schema';
      readonly name: string;
      readonly schema: Readonly<Record<string, unknown>>;
      readonly description?: string;
      readonly strict?: boolean;
    };

/** One model call. Sampling and output fields are sent only when set; the provider's defaults apply otherwise. */
export interface ModelRequest {
  /** The system prompt; sent first, never part of `messages` (and never stored). */
  readonly instructions?: string;
  /** The conversation so far; only model-visible types are sent (text, tool_call, tool_result). */
  readonly messages: readonly AgentMessage[];
  readonly tools?: readonly ModelToolSpec[];
  /** Overrides the provider's default model. */
  readonly model?: string;
  readonly temperature?: number;
  readonly topP?: number;
  /** Tokens the answer may use at most, reasoning included. */
  readonly maxOutputTokens?: number;
  readonly toolChoice?: ModelToolChoice;
  readonly responseFormat?: ModelResponseFormat;
  /** Text at which the model stops; up to 4 sequences on OpenAI. */
  readonly stop?: string | readonly string[];
}

/**
 * Tokens used. A field that is absent was not reported by the provider, which
 * is not the same as zero. `cachedInputTokens` are part of `inputTokens`
 * (read from a prompt cache), `reasoningTokens` part of `outputTokens`.
 */
export interface ModelUsage {
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly totalTokens?: number;
  readonly cachedInputTokens?: number;
  readonly reasoningTokens?: number;
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
  | { readonly type: 'text_delta'; readonly text: string }
  /**
   * A fragment of a tool call's arguments as it arrives. `index` is the call's
   * position in the response (as OpenAI's chunks carry it); `toolCallId` and
   * `toolName` come with the first fragment of a call. The `response` still
   * carries every call whole.
   */
  | {
      readonly type: 'tool_call_delta';
      readonly index: number;
      readonly toolCallId?: string;
      readonly toolName?: string;
      readonly argumentsDelta: string;
    }
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
  /** Yields `text_delta`s and `tool_call_delta`s, and ends with exactly one `response`. */
  stream(request: ModelRequest, options?: ModelCallOptions): AsyncIterable<ModelStreamEvent>;
}

/**
 * Sums usage field by field. A field is reported in the sum when either side
 * reported it (the other counts as zero), and stays absent when neither did.
 */
export function addUsage(left: ModelUsage, right: ModelUsage): ModelUsage {
  // Field by field rather than a loop over the names: this runs on every turn of the loop.
  const sum: { -readonly [Field in keyof ModelUsage]: number } = {};
  if (left.inputTokens !== undefined || right.inputTokens !== undefined) sum.inputTokens = (left.inputTokens ?? 0) + (right.inputTokens ?? 0);
  if (left.outputTokens !== undefined || right.outputTokens !== undefined) sum.outputTokens = (left.outputTokens ?? 0) + (right.outputTokens ?? 0);
  if (left.totalTokens !== undefined || right.totalTokens !== undefined) sum.totalTokens = (left.totalTokens ?? 0) + (right.totalTokens ?? 0);
  if (left.cachedInputTokens !== undefined || right.cachedInputTokens !== undefined) {
    sum.cachedInputTokens = (left.cachedInputTokens ?? 0) + (right.cachedInputTokens ?? 0);
  }
  if (left.reasoningTokens !== undefined || right.reasoningTokens !== undefined) sum.reasoningTokens = (left.reasoningTokens ?? 0) + (right.reasoningTokens ?? 0);
  return sum;
}

/**
 * The tokens a usage counts against a token budget: the reported total, else
 * input plus output as far as reported; 0 when nothing was reported.
 */
export function countedTokens(usage: ModelUsage): number {
  return usage.totalTokens ?? (usage.inputTokens ?? 0) + (usage.outputTokens ?? 0);
}

/** Usage of nothing: no field reported. */
export const emptyUsage: ModelUsage = Object.freeze({});
