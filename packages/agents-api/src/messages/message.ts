import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { isoNow, newMessageId } from './envelope-defaults';

/** The envelope's schema name and version; a reader refuses anything else. */
export const messageSchemaName = 'agents-api.message';
export const messageSchemaVersion = 1;

const jsonRecordSchema = z.record(z.string(), z.unknown());

/** One tool call the model asked for. `arguments` is the model's JSON text, kept as sent. */
export const toolCallSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});
export type ToolCall = z.infer<typeof toolCallSchema>;

const envelope = {
  schema: z.literal(messageSchemaName),
  version: z.literal(messageSchemaVersion),
  id: z.string().min(1),
  content: z.string(),
  metadata: jsonRecordSchema,
  /** ISO 8601 instant. */
  createdAt: z.iso.datetime({ offset: true }),
};

/** Plain text from the user, the assistant, or the host (`system`, e.g. a completion-policy nudge). */
export const textMessageSchema = z.object({
  ...envelope,
  type: z.literal('text'),
  role: z.enum(['user', 'assistant', 'system']),
  payload: jsonRecordSchema,
});

/** The assistant asking for tools; `content` holds any text it said alongside. */
export const toolCallMessageSchema = z.object({
  ...envelope,
  type: z.literal('tool_call'),
  role: z.literal('assistant'),
  payload: z.object({ toolCalls: z.array(toolCallSchema).min(1) }).catchall(z.unknown()),
});

/** The answer to one tool call, with role `tool`; `content` is what the model sees. */
export const toolResultMessageSchema = z.object({
  ...envelope,
  type: z.literal('tool_result'),
  role: z.literal('tool'),
  payload: z
    .object({ toolCallId: z.string().min(1), toolName: z.string().min(1), isError: z.boolean() })
    .catchall(z.unknown()),
});

/** A tool call held for a human decision; the run ended as `approval_required`. */
export const approvalRequiredMessageSchema = z.object({
  ...envelope,
  type: z.literal('approval_required'),
  role: z.literal('assistant'),
  payload: z.object({ toolCall: toolCallSchema, reason: z.string() }).catchall(z.unknown()),
});

/** The run needs input from the user before it can go on; `content` is the question. */
export const inputRequiredMessageSchema = z.object({
  ...envelope,
  type: z.literal('input_required'),
  role: z.literal('assistant'),
  payload: jsonRecordSchema,
});

/**
 * The versioned message envelope (`schema: 'agents-api.message'`, `version: 1`).
 * Validate anything that comes from outside with `parseMessage`.
 */
export const agentMessageSchema = z.discriminatedUnion('type', [
  textMessageSchema,
  toolCallMessageSchema,
  toolResultMessageSchema,
  approvalRequiredMessageSchema,
  inputRequiredMessageSchema,
]);

export type AgentMessage = z.infer<typeof agentMessageSchema>;
export type MessageType = AgentMessage['type'];
export type MessageRole = AgentMessage['role'];
export type TextMessage = z.infer<typeof textMessageSchema>;
export type ToolCallMessage = z.infer<typeof toolCallMessageSchema>;
export type ToolResultMessage = z.infer<typeof toolResultMessageSchema>;
export type ApprovalRequiredMessage = z.infer<typeof approvalRequiredMessageSchema>;
export type InputRequiredMessage = z.infer<typeof inputRequiredMessageSchema>;

/** The message types a model sees; the others are runtime records. */
export const modelVisibleMessageTypes = ['text', 'tool_call', 'tool_result'] as const;

/**
 * Where new messages get their ids and timestamps; tests pass deterministic
 * ones. By default an id is `msg_` and 128 random bits (unique across
 * processes, unguessable), and the timestamp is the current instant.
 */
export interface MessageFactoryOptions {
  readonly generateId?: () => string;
  readonly now?: () => Date;
}

/** The fields a caller supplies; the envelope fields are filled in. */
export type MessageDraft = AgentMessage extends infer Message
  ? Message extends AgentMessage
    ? Omit<Message, 'schema' | 'version' | 'id' | 'createdAt' | 'metadata'> & {
        readonly id?: string;
        readonly metadata?: Readonly<Record<string, unknown>>;
      }
    : never
  : never;

/**
 * Builds a valid envelope from a draft.
 *
 * @example
 * const message = createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} });
 */
export function createMessage<Draft extends MessageDraft>(
  draft: Draft,
  options: MessageFactoryOptions = {},
): Extract<AgentMessage, { type: Draft['type'] }> {
  // Every message type has the same fields, so one literal gives every message
  // one object shape; spreading the draft made the loop's hot path megamorphic.
  const message = {
    schema: messageSchemaName,
    version: messageSchemaVersion,
    id: draft.id ?? (options.generateId ?? newMessageId)(),
    type: draft.type,
    role: draft.role,
    content: draft.content,
    payload: draft.payload,
    metadata: draft.metadata === undefined ? {} : { ...draft.metadata },
    createdAt: options.now ? options.now().toISOString() : isoNow(),
  } satisfies Record<keyof AgentMessage, unknown>;
  // TypeScript cannot tie a generic draft's role and payload to its type, so this
  // narrows; `satisfies` above and the comparison here still check every field.
  return message as Extract<AgentMessage, { type: Draft['type'] }>;
}

/**
 * Validates a message that comes from outside (a store, a client, another process).
 *
 * @throws AgentsApiError `message.invalid`, with the zod issues in `details.issues`.
 */
export function parseMessage(value: unknown): AgentMessage {
  const parsed = agentMessageSchema.safeParse(value);
  if (!parsed.success) {
    throw new AgentsApiError('message.invalid', `Invalid message: ${z.prettifyError(parsed.error)}`, {
      details: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) },
    });
  }
  return parsed.data;
}

