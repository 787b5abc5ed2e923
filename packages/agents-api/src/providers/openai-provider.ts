import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionFunctionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type { ResponseFormatJSONSchema } from 'openai/resources/shared';
import { z } from 'zod';
import { AgentsApiError, type AgentsApiErrorCode } from '../errors';
import { toolCallSchema, type ToolCall } from '../messages/message';
import { toOpenAIChatMessages } from '../messages/openai-chat-format';
import type {
  ModelFinishReason,
  ModelProvider,
  ModelRequest,
  ModelResponse,
  ModelResponseFormat,
  ModelStreamEvent,
  ModelToolChoice,
  ModelToolSpec,
  ModelUsage,
} from './model-provider';

/** Options of {@link createOpenAIProvider}. */
export interface OpenAIProviderOptions {
  readonly apiKey: string;
  /** The model used when a request names none. */
  readonly model: string;
  /** Any OpenAI-compatible endpoint; defaults to `https://api.openai.com/v1`. */
  readonly baseURL?: string;
  /**
   * Per attempt, until the response headers arrive; default 60 seconds
   * ({@link defaultOpenAITimeoutMs}). The SDK's own default, 10 minutes, let a
   * hung model hold a run for half an hour across its retries.
   */
  readonly timeoutMs?: number;
  /** Retries of 408, 409, 429, 5xx, connection failures and timeouts, with the SDK's backoff; default 2 ({@link defaultOpenAIMaxRetries}). */
  readonly maxRetries?: number;
  readonly organization?: string;
  readonly project?: string;
}

const providerName = 'openai';

/** The per-attempt timeout of {@link createOpenAIProvider} when none is given: 60 seconds. */
export const defaultOpenAITimeoutMs = 60_000;
/** The retries of {@link createOpenAIProvider} when none are given: 2, so at most 3 attempts (about 3 minutes with the default timeout). */
export const defaultOpenAIMaxRetries = 2;
const defaultBaseURL = 'https://api.openai.com/v1';

/**
 * A `ModelProvider` on OpenAI Chat Completions, through the official `openai`
 * client, for OpenAI and any compatible server. Retries are the SDK's: backoff
 * with jitter, honouring `retry-after` and `retry-after-ms`. Failures are
 * `AgentsApiError`s with a `provider.*` code and the SDK error as `cause`.
 *
 * @example
 * const provider = createOpenAIProvider({ apiKey: process.env.OPENAI_API_KEY!, model: 'gpt-4o-mini' });
 * const response = await provider.complete({ messages: [createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} })] });
 */
export function createOpenAIProvider(options: OpenAIProviderOptions): ModelProvider {
  const timeout = options.timeoutMs ?? defaultOpenAITimeoutMs;
  // Every connection setting is explicit: the SDK would otherwise fill gaps from OPENAI_BASE_URL, OPENAI_ORG_ID and OPENAI_PROJECT_ID.
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL ?? defaultBaseURL,
    organization: options.organization ?? null,
    project: options.project ?? null,
    maxRetries: options.maxRetries ?? defaultOpenAIMaxRetries,
    timeout,
  });
  // The timeout also goes on each request: the SDK then sends it to the server (`X-Stainless-Timeout`, in seconds).
  return {
    name: providerName,
    complete: (request, callOptions = {}) => complete(client, toParams(request, options.model), { signal: callOptions.signal, timeout }),
    stream: (request, callOptions = {}) => stream(client, toParams(request, options.model), { signal: callOptions.signal, timeout }),
  };
}

function toParams(request: ModelRequest, defaultModel: string): ChatCompletionCreateParamsNonStreaming {
  const params: ChatCompletionCreateParamsNonStreaming = {
    model: request.model ?? defaultModel,
    messages: toOpenAIChatMessages(request.messages, request.instructions),
  };
  // Only what is set is sent; assigned field by field, the cheapest way to build it on every call.
  if (request.tools !== undefined && request.tools.length > 0) params.tools = request.tools.map(toFunctionTool);
  if (request.temperature !== undefined) params.temperature = request.temperature;
  if (request.topP !== undefined) params.top_p = request.topP;
  if (request.maxOutputTokens !== undefined) params.max_completion_tokens = request.maxOutputTokens;
  if (request.toolChoice !== undefined) params.tool_choice = toToolChoice(request.toolChoice);
  if (request.responseFormat !== undefined) params.response_format = toResponseFormat(request.responseFormat);
  if (request.stop !== undefined) params.stop = typeof request.stop === 'string' ? request.stop : [...request.stop];
  return params;
}

function toToolChoice(choice: ModelToolChoice): ChatCompletionToolChoiceOption {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

function toResponseFormat(format: ModelResponseFormat): NonNullable<ChatCompletionCreateParamsNonStreaming['response_format']> {
  if (format.type !== 'json_schema') return { type: format.type };
  const jsonSchema: ResponseFormatJSONSchema.JSONSchema = { name: format.name, schema: format.schema as Record<string, unknown> };
  if (format.description !== undefined) jsonSchema.description = format.description;
  if (format.strict !== undefined) jsonSchema.strict = format.strict;
  return { type: 'json_schema', json_schema: jsonSchema };
}

function toFunctionTool(tool: ModelToolSpec): ChatCompletionFunctionTool {
  // The SDK only serialises the schema; it is passed as is (the tool's copy is frozen).
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.parameters as Record<string, unknown> } };
}

/** What each request of the SDK is given: the caller's signal and the per-attempt timeout. */
interface RequestOptions {
  readonly signal: AbortSignal | undefined;
  readonly timeout: number;
}

function complete(client: OpenAI, params: ChatCompletionCreateParamsNonStreaming, options: RequestOptions): Promise<ModelResponse> {
  // A promise chain rather than an async function: one layer less on every turn.
  return client.chat.completions.create(params, options).then(
    (completion: unknown) => toModelResponse(completion, params.model),
    (error: unknown) => {
      throw toProviderError(error, options.signal);
    },
  );
}

async function* stream(
  client: OpenAI,
  params: ChatCompletionCreateParamsNonStreaming,
  options: RequestOptions,
): AsyncGenerator<ModelStreamEvent> {
  const accumulator = new ChunkAccumulator(params.model);
  try {
    const chunks = await client.chat.completions.create(
      { ...params, stream: true, stream_options: { include_usage: true } },
      options,
    );
    for await (const chunk of chunks) {
      // The common, well-formed chunk is checked by hand, as a completion is (see `toModelResponse`).
      const parsed = isWellFormedChunk(chunk) ? chunk : parseWire(chunkWireSchema, chunk, 'stream chunk');
      const text = accumulator.add(parsed);
      if (text !== '') yield { type: 'text_delta', text };
      const fragments = parsed.choices?.[0]?.delta?.tool_calls;
      // A fragment with nothing in it (no id, name or arguments) is not worth an event.
      if (fragments) for (const fragment of fragments) if (fragment.id || fragment.function?.name || fragment.function?.arguments) yield toolCallDelta(fragment);
    }
  } catch (error) {
    throw toProviderError(error, options.signal);
  }
  // The SDK ends a stream quietly when its request is aborted; the caller must still hear it was cancelled.
  if (options.signal?.aborted) throw cancelledError(options.signal.reason);
  yield { type: 'response', response: accumulator.response() };
}

// The response as we rely on it. Compatible servers vary, so only what we read is required.
const wireToolCallSchema = z.object({
  id: z.string().min(1),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});
const wireUsageSchema = z
  .object({
    prompt_tokens: z.number().optional(),
    completion_tokens: z.number().optional(),
    total_tokens: z.number().optional(),
    prompt_tokens_details: z.object({ cached_tokens: z.number().nullish() }).nullish(),
    completion_tokens_details: z.object({ reasoning_tokens: z.number().nullish() }).nullish(),
  })
  .nullish();
const completionWireSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish(), tool_calls: z.array(wireToolCallSchema).nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: wireUsageSchema,
});
const chunkWireSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        delta: z
          .object({
            content: z.string().nullish(),
            tool_calls: z
              .array(
                z.object({
                  index: z.number().int().min(0),
                  id: z.string().nullish(),
                  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
                }),
              )
              .nullish(),
          })
          .nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: wireUsageSchema,
});
type ChunkWire = z.infer<typeof chunkWireSchema>;
type ToolCallFragmentWire = NonNullable<NonNullable<NonNullable<NonNullable<ChunkWire['choices']>[number]['delta']>['tool_calls']>[number]>;

function toolCallDelta(fragment: ToolCallFragmentWire): ModelStreamEvent {
  const event: { type: 'tool_call_delta'; index: number; toolCallId?: string; toolName?: string; argumentsDelta: string } = {
    type: 'tool_call_delta',
    index: fragment.index,
    argumentsDelta: fragment.function?.arguments ?? '',
  };
  if (fragment.id) event.toolCallId = fragment.id;
  if (fragment.function?.name) event.toolName = fragment.function.name;
  return event;
}
type UsageWire = z.infer<typeof wireUsageSchema>;

function parseWire<Schema extends z.ZodType>(schema: Schema, value: unknown, what: string): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new AgentsApiError('provider.bad_response', `${providerName}: unexpected ${what}: ${z.prettifyError(parsed.error)}`, {
    details: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) },
  });
}

function toModelResponse(value: unknown, requestedModel: string): ModelResponse {
  // The common, well-formed case is checked by hand: zod's parse cost more than
  // the rest of the provider. Anything the check does not accept goes to zod,
  // which accepts it or explains what is wrong.
  const completion = isWellFormedCompletion(value) ? value : parseWire(completionWireSchema, value, 'completion');
  const [choice] = completion.choices;
  return {
    content: textOrNull(choice?.message.content ?? ''),
    toolCalls: (choice?.message.tool_calls ?? []).map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments })),
    finishReason: toFinishReason(choice?.finish_reason),
    usage: toUsage(completion.usage),
    model: completion.model ?? requestedModel,
  };
}

type CompletionWire = z.infer<typeof completionWireSchema>;

/** A strict subset of {@link completionWireSchema}: whatever this accepts, the schema accepts. */
function isWellFormedCompletion(value: unknown): value is CompletionWire {
  if (!isObject(value) || !optional(value.model, isString) || !Array.isArray(value.choices) || value.choices.length === 0) return false;
  if (!nullish(value.usage, isUsage)) return false;
  return value.choices.every(
    (choice) =>
      isObject(choice) &&
      nullish(choice.finish_reason, isString) &&
      isObject(choice.message) &&
      nullish(choice.message.content, isString) &&
      nullish(choice.message.tool_calls, (calls) => Array.isArray(calls) && calls.every(isWireToolCall)),
  );
}

/** A strict subset of {@link chunkWireSchema}: whatever this accepts, the schema accepts. */
function isWellFormedChunk(value: unknown): value is ChunkWire {
  if (!isObject(value) || !optional(value.model, isString) || !nullish(value.usage, isUsage)) return false;
  return nullish(value.choices, (choices) => Array.isArray(choices) && choices.every(isWellFormedChunkChoice));
}

function isWellFormedChunkChoice(choice: unknown): boolean {
  return (
    isObject(choice) &&
    nullish(choice.finish_reason, isString) &&
    nullish(choice.delta, (delta) => isObject(delta) && nullish(delta.content, isString) && nullish(delta.tool_calls, (calls) => Array.isArray(calls) && calls.every(isWireToolCallFragment)))
  );
}

function isWireToolCallFragment(fragment: unknown): boolean {
  return (
    isObject(fragment) &&
    Number.isSafeInteger(fragment.index) &&
    (fragment.index as number) >= 0 &&
    nullish(fragment.id, isString) &&
    nullish(fragment.function, (called) => isObject(called) && nullish(called.name, isString) && nullish(called.arguments, isString))
  );
}

function isWireToolCall(call: unknown): boolean {
  return (
    isObject(call) &&
    isNonEmptyString(call.id) &&
    (call.type === undefined || call.type === 'function') &&
    isObject(call.function) &&
    isNonEmptyString(call.function.name) &&
    isString(call.function.arguments)
  );
}

function isUsage(usage: unknown): boolean {
  return (
    isObject(usage) &&
    optional(usage.prompt_tokens, isFiniteNumber) &&
    optional(usage.completion_tokens, isFiniteNumber) &&
    optional(usage.total_tokens, isFiniteNumber) &&
    nullish(usage.prompt_tokens_details, (details) => isObject(details) && nullish(details.cached_tokens, isFiniteNumber)) &&
    nullish(usage.completion_tokens_details, (details) => isObject(details) && nullish(details.reasoning_tokens, isFiniteNumber))
  );
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === 'string';
const isNonEmptyString = (value: unknown): boolean => typeof value === 'string' && value.length > 0;
const isFiniteNumber = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value);
const optional = (value: unknown, check: (value: unknown) => boolean): boolean => value === undefined || check(value);
const nullish = (value: unknown, check: (value: unknown) => boolean): boolean => value === undefined || value === null || check(value);

/** Made once: zod 4 sets a schema up on its first use, which on every response cost more than the check. */
const streamedToolCallsSchema = z.array(toolCallSchema);

/** Builds one response from stream chunks: text appended, tool-call fragments joined by index. */
class ChunkAccumulator {
  #text = '';
  #sawChoice = false;
  #finishReason: string | null | undefined;
  #usage: UsageWire;
  #model: string;
  readonly #toolCalls = new Map<number, { id: string; name: string; arguments: string }>();

  constructor(requestedModel: string) {
    this.#model = requestedModel;
  }

  /** Takes in one chunk; returns the text it added. */
  add(chunk: ChunkWire): string {
    if (chunk.model) this.#model = chunk.model;
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return '';
    this.#sawChoice = true;
    if (choice.finish_reason) this.#finishReason = choice.finish_reason;
    for (const fragment of choice.delta?.tool_calls ?? []) {
      const call = this.#toolCalls.get(fragment.index) ?? { id: '', name: '', arguments: '' };
      call.id ||= fragment.id ?? '';
      call.name += fragment.function?.name ?? '';
      call.arguments += fragment.function?.arguments ?? '';
      this.#toolCalls.set(fragment.index, call);
    }
    const text = choice.delta?.content ?? '';
    this.#text += text;
    return text;
  }

  response(): ModelResponse {
    if (!this.#sawChoice) {
      throw new AgentsApiError('provider.bad_response', `${providerName}: the stream ended without a choice`);
    }
    const calls = [...this.#toolCalls.entries()].sort(([left], [right]) => left - right).map(([, call]) => call);
    const toolCalls: ToolCall[] = parseWire(streamedToolCallsSchema, calls, 'streamed tool call');
    return {
      content: textOrNull(this.#text),
      toolCalls,
      finishReason: toFinishReason(this.#finishReason),
      usage: toUsage(this.#usage),
      model: this.#model,
    };
  }
}

function textOrNull(text: string): string | null {
  return text === '' ? null : text;
}

const finishReasons: ReadonlyMap<string, ModelFinishReason> = new Map([
  ['stop', 'stop'],
  ['tool_calls', 'tool_calls'],
  ['length', 'length'],
  ['content_filter', 'content_filter'],
]);

function toFinishReason(reason: string | null | undefined): ModelFinishReason {
  return finishReasons.get(reason ?? '') ?? 'other';
}

/** What the provider reported, and nothing it did not: an absent field stays absent. */
function toUsage(wire: UsageWire): ModelUsage {
  const usage: { -readonly [Field in keyof ModelUsage]: number } = {};
  if (!wire) return usage;
  const { prompt_tokens: input, completion_tokens: output } = wire;
  if (input !== undefined) usage.inputTokens = input;
  if (output !== undefined) usage.outputTokens = output;
  const total = wire.total_tokens ?? (input !== undefined && output !== undefined ? input + output : undefined);
  if (total !== undefined) usage.totalTokens = total;
  const cached = wire.prompt_tokens_details?.cached_tokens;
  if (cached !== undefined && cached !== null) usage.cachedInputTokens = cached;
  const reasoning = wire.completion_tokens_details?.reasoning_tokens;
  if (reasoning !== undefined && reasoning !== null) usage.reasoningTokens = reasoning;
  return usage;
}

/** Maps whatever the SDK threw to a `provider.*` error; the SDK's retries are already spent. */
function toProviderError(error: unknown, signal: AbortSignal | undefined): AgentsApiError {
  if (AgentsApiError.isInstance(error)) return error;
  // Checked first: an abort surfaces as several error types depending on when it landed.
  if (signal?.aborted || error instanceof OpenAI.APIUserAbortError) return cancelledError(error);
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new AgentsApiError('provider.timeout', `${providerName}: the request timed out`, { cause: error });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new AgentsApiError('provider.unavailable', `${providerName}: could not connect: ${error.message}`, { cause: error });
  }
  if (error instanceof OpenAI.APIError) return fromApiError(error);
  if (error instanceof SyntaxError || error instanceof OpenAI.OpenAIError) {
    return new AgentsApiError('provider.bad_response', `${providerName}: unreadable response: ${error.message}`, { cause: error });
  }
  // What is left comes from reading the body, e.g. undici's "terminated" when the connection drops mid-response.
  return new AgentsApiError('provider.unavailable', `${providerName}: the response broke off: ${String(error)}`, { cause: error });
}

function fromApiError(error: InstanceType<typeof OpenAI.APIError>): AgentsApiError {
  const details = withoutEmpty({
    status: error.status,
    providerCode: error.code,
    providerType: error.type,
    requestId: error.requestID,
    retryAfterSeconds: retryAfterSeconds(error.headers),
  });
  return new AgentsApiError(codeForStatus(error.status), `${providerName}: ${error.message}`, { cause: error, details });
}

function codeForStatus(status: number | undefined): AgentsApiErrorCode {
  // No status: an error event inside a stream, sent by a server that failed after it started answering.
  if (status === undefined || status >= 500) return 'provider.unavailable';
  if (status === 401 || status === 403) return 'provider.auth_failed';
  if (status === 429) return 'provider.rate_limited';
  if (status === 408) return 'provider.timeout';
  if (status >= 400) return 'provider.bad_request';
  return 'provider.bad_response';
}

function retryAfterSeconds(headers: Headers | undefined): number | undefined {
  const milliseconds = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(milliseconds)) return milliseconds / 1000;
  const seconds = Number.parseFloat(headers?.get('retry-after') ?? '');
  return Number.isFinite(seconds) ? seconds : undefined;
}

function cancelledError(cause: unknown): AgentsApiError {
  return new AgentsApiError('provider.cancelled', `${providerName}: the call was cancelled`, { cause });
}

function withoutEmpty(record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined && value !== null));
}
