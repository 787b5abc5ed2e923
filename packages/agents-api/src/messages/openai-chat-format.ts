import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionContentPart,
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
 * (`approval_required`, `input_required`) are left out.
 * A message's `payload.name` goes out as its participant `name`; a user message's
 * `payload.parts` (text and `image_url` parts) goes out as its content instead of `content`.
 * What survives a round trip is set out on {@link fromOpenAIChatMessages}.
 *
 * @throws AgentsApiError `message.invalid` for a `payload.parts` that is not a list of text and `image_url` parts.
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
      // The common message has neither a participant name nor parts: one fixed shape for it.
      if (message.payload.name === undefined && message.payload.parts === undefined) return { role: message.role, content: message.content };
      return toTextWithExtras(message);
    case 'tool_call':
      return toAssistantToolCalls(message);
    case 'tool_result':
      return { role: 'tool', tool_call_id: message.payload.toolCallId, content: message.content };
    case 'approval_required':
    case 'input_required':
      return undefined;
  }
}

function toTextWithExtras(message: TextMessage): ChatCompletionMessageParam {
  const name = typeof message.payload.name === 'string' ? message.payload.name : undefined;
  const withName = name === undefined ? {} : { name };
  switch (message.role) {
    case 'user':
      return { role: 'user', content: message.payload.parts === undefined ? message.content : partsOf(message), ...withName };
    case 'assistant':
      return { role: 'assistant', content: message.content, ...withName };
    case 'system':
      return { role: 'system', content: message.content, ...withName };
  }
}

function partsOf(message: TextMessage): ChatCompletionContentPart[] {
  const parsed = userPartsSchema.safeParse(message.payload.parts);
  if (!parsed.success) {
    throw new AgentsApiError('message.invalid', `Message ${message.id} has payload.parts that are not text and image_url parts: ${z.prettifyError(parsed.error)}`, {
      details: { messageId: message.id, issues: parsed.error.issues.map((issue) => ({ path: `payload.parts.${issue.path.join('.')}`, message: issue.message })) },
    });
  }
  return parsed.data;
}

function toAssistantToolCalls(message: ToolCallMessage): ChatCompletionAssistantMessageParam {
  const { name } = message.payload;
  return {
    ...(typeof name === 'string' ? { name } : {}),
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

// What the envelope can hold. Strict objects: a field it cannot keep (an audio or
// file part, a refusal) must fail loudly rather than vanish in the conversion.
const textPartSchema = z.strictObject({ type: z.literal('text'), text: z.string() });
const imagePartSchema = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }),
});
const userPartsSchema = z.array(z.discriminatedUnion('type', [textPartSchema, imagePartSchema]));
const textContentSchema = z.union([z.string(), z.array(textPartSchema)]);
const userContentSchema = z.union([z.string(), userPartsSchema]);
const nameSchema = z.string().min(1).optional();
const functionToolCallSchema = z.strictObject({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string().min(1), arguments: z.string() }),
});

const openAIChatMessageSchema = z.discriminatedUnion('role', [
  z.strictObject({ role: z.enum(['system', 'developer']), content: textContentSchema, name: nameSchema }),
  z.strictObject({ role: z.literal('user'), content: userContentSchema, name: nameSchema }),
  z.strictObject({
    role: z.literal('assistant'),
    name: nameSchema,
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
 * system text; text parts are joined without a separator. A participant `name`
 * is kept in `payload.name`. A user message with `image_url` parts keeps all
 * its parts, in order, in `payload.parts` (its `content` is the text parts
 * joined). A `tool` message needs its tool's name from `options.toolNames`.
 *
 * @throws AgentsApiError `message.invalid` for anything the envelope cannot hold:
 * a content part it cannot carry (`details.partIndex` and `details.partType`:
 * audio, file, refusal, or an image outside a user message), an assistant
 * refusal or audio, the legacy `function` role.
 */
export function fromOpenAIChatMessage(message: ChatCompletionMessageParam, options: FromOpenAIChatOptions = {}): OpenAIChatConvertibleMessage {
  checkParts(message);
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
 * Round trips (the conversion is not lossless; this is what it keeps):
 * - OpenAI -> envelope -> OpenAI ({@link toOpenAIChatMessages}) gives back the
 *   same messages, participant names and a user's image parts included, up to
 *   normal forms: `developer` comes back as `system`, text-only parts as one
 *   string, the empty fields of a completion response (`refusal: null`, ...)
 *   are dropped, and an assistant's empty content is `null` beside tool calls
 *   and `''` without. What it cannot carry (audio and file parts, refusals, the
 *   `function` role) is refused, never dropped.
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

/** Refuses, by index and type, a content part the envelope cannot carry for the message's role. */
function checkParts(message: ChatCompletionMessageParam): void {
  const { content } = message as { content?: unknown };
  if (!Array.isArray(content)) return;
  const role = roleOf(message);
  const carried = role === 'user' ? userPartTypes : textPartTypes;
  content.forEach((part: unknown, partIndex) => {
    const partType = typeof part === 'object' && part !== null ? (part as { type?: unknown }).type : undefined;
    if (typeof partType === 'string' && carried.has(partType)) return;
    throw new AgentsApiError('message.invalid', `Cannot convert an OpenAI ${String(role)} message: content part ${partIndex} (${String(partType)}) cannot be carried`, {
      details: { role, partIndex, partType, issues: [{ path: `content.${partIndex}.type`, message: `a ${String(role)} message cannot carry a ${String(partType)} part here` }] },
    });
  });
}

const userPartTypes: ReadonlySet<string> = new Set(['text', 'image_url']);
const textPartTypes: ReadonlySet<string> = new Set(['text']);

function repeatedCallIdError(toolCallId: string): AgentsApiError {
  return new AgentsApiError('message.invalid', `Tool-call id ${toolCallId} is used by more than one tool call`, {
    details: { role: 'assistant', toolCallId, issues: [{ path: 'tool_calls.id', message: 'repeats an earlier tool-call id' }] },
  });
}

function toEnvelope(message: OpenAIChatMessage, options: FromOpenAIChatOptions): OpenAIChatConvertibleMessage {
  switch (message.role) {
    case 'system':
    case 'developer':
      return createMessage({ type: 'text', role: 'system', content: joinText(message.content), payload: withName(message.name) }, options);
    case 'user': {
      const payload: Record<string, unknown> = withName(message.name);
      const { content } = message;
      // Text-only parts are joined, as before; parts with an image are kept whole, to go back to the model.
      if (typeof content !== 'string' && content.some((part) => part.type === 'image_url')) payload.parts = content;
      return createMessage({ type: 'text', role: 'user', content: joinText(content), payload }, options);
    }
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
  if (toolCalls.length === 0) return createMessage({ type: 'text', role: 'assistant', content, payload: withName(message.name) }, options);
  const payload = message.name === undefined ? { toolCalls } : { toolCalls, name: message.name };
  return createMessage({ type: 'tool_call', role: 'assistant', content, payload }, options);
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

function withName(name: string | undefined): Record<string, unknown> {
  return name === undefined ? {} : { name };
}

function joinText(content: string | readonly ({ readonly type: 'text'; readonly text: string } | { readonly type: 'image_url' })[]): string {
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of content) if (part.type === 'text') text += part.text;
  return text;
}

function roleOf(message: unknown): unknown {
  return typeof message === 'object' && message !== null ? (message as { role?: unknown }).role : undefined;
}
