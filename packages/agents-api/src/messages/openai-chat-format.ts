import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { z } from 'zod';
import { AgentsApiError } from '../errors';
import {
  createMessage,
  type AgentMessage,
  type MessageFactoryOptions,
  type TextMessage,
  type ToolCall,
  type ToolCallMessage,
  type ToolResultMessage,
} from './message';

/** The envelope types an OpenAI chat message converts to: the model-visible ones. */
export type OpenAIChatConvertibleMessage = TextMessage | ToolCallMessage | ToolResultMessage;

/** Options of {@link fromOpenAIChatMessage}: ids and clock, and the names of earlier tool calls. */
export interface FromOpenAIChatOptions extends MessageFactoryOptions {
  /**
   * Tool names by tool-call id. An OpenAI `tool` message carries only the id of
   * the call it answers, while the envelope also keeps the tool's name.
   * {@link fromOpenAIChatMessages} fills this from the assistant messages it has read.
   */
  readonly toolNames?: ReadonlyMap<string, string>;
}

/**
 * The conversation as OpenAI Chat Completions messages: `instructions` first as
 * a system message, then every model-visible message in order. Tool results go
 * out with role `tool` and the id of the call they answer. Runtime records
 * (`approval_required`, `input_required`, `final_result`, `error`, `delta`) are left out.
 * What survives a round trip is set out on {@link fromOpenAIChatMessages}.
 */
export function toOpenAIChatMessages(messages: readonly AgentMessage[], instructions?: string): ChatCompletionMessageParam[] {
  const converted: ChatCompletionMessageParam[] = instructions === undefined ? [] : [{ role: 'system', content: instructions }];
  for (const message of messages) {
    const chatMessage = toOpenAIChatMessage(message);
    if (chatMessage) converted.push(chatMessage);
  }
  return converted;
}

function toOpenAIChatMessage(message: AgentMessage): ChatCompletionMessageParam | undefined {
  switch (message.type) {
    case 'text':
      return { role: message.role, content: message.content };
    case 'tool_call':
      return toAssistantToolCalls(message);
    case 'tool_result':
      return { role: 'tool', tool_call_id: message.payload.toolCallId, content: message.content };
    case 'approval_required':
    case 'input_required':
    case 'final_result':
    case 'error':
    case 'delta':
      return undefined;
  }
}

function toAssistantToolCalls(message: ToolCallMessage): ChatCompletionAssistantMessageParam {
  return {
    role: 'assistant',
    // OpenAI's own responses carry null, not '', next to tool calls; keep that shape so a round trip is exact.
    content: message.content === '' ? null : message.content,
    tool_calls: message.payload.toolCalls.map((call) => ({
      id: call.id,
      type: 'function' as const,
      function: { name: call.name, arguments: call.arguments },
    })),
  };
}

// What the envelope can hold. Strict objects: a field it cannot keep (`name`, an
// image part, a refusal) must fail loudly rather than vanish in the conversion.
const textPartSchema = z.strictObject({ type: z.literal('text'), text: z.string() });
const textContentSchema = z.union([z.string(), z.array(textPartSchema)]);
const functionToolCallSchema = z.strictObject({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string().min(1), arguments: z.string() }),
});

const openAIChatMessageSchema = z.discriminatedUnion('role', [
  z.strictObject({ role: z.enum(['system', 'developer']), content: textContentSchema }),
  z.strictObject({ role: z.literal('user'), content: textContentSchema }),
  z.strictObject({
    role: z.literal('assistant'),
    content: textContentSchema.nullish(),
    tool_calls: z.array(functionToolCallSchema).optional(),
    // Present (and empty) on messages taken from a completion response.
    refusal: z.null().optional(),
    annotations: z.array(z.never()).optional(),
    audio: z.null().optional(),
    function_call: z.null().optional(),
  }),
  z.strictObject({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: textContentSchema }),
]);

type OpenAIChatMessage = z.infer<typeof openAIChatMessageSchema>;

/**
 * One OpenAI chat message as an envelope. `system` and `developer` become
 * system text; text parts are joined without a separator. A `tool` message
 * needs its tool's name from `options.toolNames`.
 *
 * @throws AgentsApiError `message.invalid` for anything the envelope cannot hold:
 * image, audio or file parts, refusals, participant names, the legacy `function` role.
 */
export function fromOpenAIChatMessage(message: ChatCompletionMessageParam, options: FromOpenAIChatOptions = {}): OpenAIChatConvertibleMessage {
  const parsed = openAIChatMessageSchema.safeParse(message);
  if (!parsed.success) {
    throw new AgentsApiError('message.invalid', `Cannot convert an OpenAI chat message: ${z.prettifyError(parsed.error)}`, {
      details: { role: roleOf(message), issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) },
    });
  }
  return toEnvelope(parsed.data, options);
}

/**
 * OpenAI chat messages as envelopes, in order. Tool names for `tool` messages
 * come from the assistant tool calls read before them.
 *
 * Round trips:
 * - OpenAI -> envelope -> OpenAI ({@link toOpenAIChatMessages}) is exact, up to
 *   normal forms: `developer` comes back as `system`, text parts as one string,
 *   the empty fields of a completion response (`refusal: null`, ...) are dropped,
 *   and an assistant's empty content is `null` beside tool calls and `''` without.
 * - envelope -> OpenAI -> envelope keeps each model-visible message's type, role
 *   and content, and the payload the chat format has room for: the tool calls,
 *   and a tool result's call id and tool name. What only the envelope holds is
 *   not kept: ids are new (from `options.generateId`), `createdAt` is `options.now`,
 *   metadata is empty, other payload fields are gone, and a tool result's
 *   `isError` comes back `false`, since a chat `tool` message cannot carry it.
 *
 * @throws AgentsApiError `message.invalid`, as {@link fromOpenAIChatMessage} does,
 * for a tool message that answers no earlier call, and for a tool-call id that
 * repeats (`details.toolCallId`).
 */
export function fromOpenAIChatMessages(
  messages: readonly ChatCompletionMessageParam[],
  options: FromOpenAIChatOptions = {},
): OpenAIChatConvertibleMessage[] {
  const toolNames = new Map(options.toolNames);
  // Ids of the calls in these messages only: `options.toolNames` may name the same calls again.
  const callIds = new Set<string>();
  return messages.map((message) => {
    const converted = fromOpenAIChatMessage(message, { ...options, toolNames });
    if (converted.type !== 'tool_call') return converted;
    for (const call of converted.payload.toolCalls) {
      // A tool message names its call only by id: with two calls on one id, which one it answers is a guess.
      if (callIds.has(call.id)) throw repeatedCallIdError(call.id);
      callIds.add(call.id);
      toolNames.set(call.id, call.name);
    }
    return converted;
  });
}

function repeatedCallIdError(toolCallId: string): AgentsApiError {
  return new AgentsApiError('message.invalid', `Tool-call id ${toolCallId} is used by more than one tool call`, {
    details: { role: 'assistant', toolCallId, issues: [{ path: 'tool_calls.id', message: 'repeats an earlier tool-call id' }] },
  });
}

function toEnvelope(message: OpenAIChatMessage, options: FromOpenAIChatOptions): OpenAIChatConvertibleMessage {
  switch (message.role) {
    case 'system':
    case 'developer':
      return createMessage({ type: 'text', role: 'system', content: joinText(message.content), payload: {} }, options);
    case 'user':
      return createMessage({ type: 'text', role: 'user', content: joinText(message.content), payload: {} }, options);
    case 'assistant':
      return fromAssistant(message, options);
    case 'tool':
      return createMessage(
        {
          type: 'tool_result',
          role: 'tool',
          content: joinText(message.content),
          // OpenAI has no error flag on a tool message: what the model saw is all there is.
          payload: { toolCallId: message.tool_call_id, toolName: toolNameFor(message.tool_call_id, options), isError: false },
        },
        options,
      );
  }
}

function fromAssistant(
  message: Extract<OpenAIChatMessage, { role: 'assistant' }>,
  options: MessageFactoryOptions,
): TextMessage | ToolCallMessage {
  const content = joinText(message.content ?? '');
  const toolCalls: ToolCall[] = (message.tool_calls ?? []).map((call) => ({
    id: call.id,
    name: call.function.name,
    arguments: call.function.arguments,
  }));
  if (toolCalls.length === 0) return createMessage({ type: 'text', role: 'assistant', content, payload: {} }, options);
  return createMessage({ type: 'tool_call', role: 'assistant', content, payload: { toolCalls } }, options);
}

function toolNameFor(toolCallId: string, options: FromOpenAIChatOptions): string {
  const name = options.toolNames?.get(toolCallId);
  if (name === undefined) {
    throw new AgentsApiError('message.invalid', `Tool message answers call ${toolCallId}, whose tool name is unknown`, {
      details: { role: 'tool', toolCallId, issues: [{ path: 'tool_call_id', message: 'answers no known tool call' }] },
    });
  }
  return name;
}

function joinText(content: string | readonly { readonly text: string }[]): string {
  return typeof content === 'string' ? content : content.map((part) => part.text).join('');
}

function roleOf(message: unknown): unknown {
  return typeof message === 'object' && message !== null ? (message as { role?: unknown }).role : undefined;
}
