import type { AgentMessage, ToolCall, ToolCallMessage, ToolResultMessage } from '../messages/message';

/**
 * The conversation as a model must see it: each tool result directly after
 * the assistant message that made its call. A stored conversation may hold
 * a late result (an approved call, a resumed one) after later messages;
 * chat APIs reject that order, so results move up. Nothing else moves.
 */
export function orderForModel(messages: readonly AgentMessage[]): readonly AgentMessage[] {
  if (isInModelOrder(messages)) return messages;
  const resultsByCall = new Map<string, ToolResultMessage>();
  for (const message of messages) {
    if (message.type === 'tool_result') resultsByCall.set(message.payload.toolCallId, message);
  }
  const placed = new Set<ToolResultMessage>();
  const ordered: AgentMessage[] = [];
  for (const message of messages) {
    if (message.type === 'tool_result') {
      if (!placed.has(message)) ordered.push(message);
      continue;
    }
    ordered.push(message);
    if (message.type !== 'tool_call') continue;
    for (const call of message.payload.toolCalls) {
      const result = resultsByCall.get(call.id);
      if (result && !placed.has(result)) {
        ordered.push(result);
        placed.add(result);
      }
    }
  }
  return ordered;
}

/**
 * Whether every tool result already follows its call's message, with only
 * other results between: the usual case, which then costs one pass and no copy.
 */
function isInModelOrder(messages: readonly AgentMessage[]): boolean {
  let open: ReadonlySet<string> | undefined;
  for (const message of messages) {
    if (message.type === 'tool_result') {
      if (!open?.has(message.payload.toolCallId)) return false;
    } else {
      open = message.type === 'tool_call' ? new Set(message.payload.toolCalls.map((call) => call.id)) : undefined;
    }
  }
  return true;
}

/** A call the conversation holds no result for. */
export interface UnansweredCall {
  readonly toolCall: ToolCall;
  /** Whether an `approval_required` message held it. */
  readonly held: boolean;
}

/** The tool calls in `messages` that no tool result answers yet, in order. */
export function unansweredToolCalls(messages: readonly AgentMessage[]): UnansweredCall[] {
  const answered = new Set<string>();
  const held = new Set<string>();
  for (const message of messages) {
    if (message.type === 'tool_result') answered.add(message.payload.toolCallId);
    if (message.type === 'approval_required') held.add(message.payload.toolCall.id);
  }
  return messages
    .filter((message): message is ToolCallMessage => message.type === 'tool_call')
    .flatMap((message) => message.payload.toolCalls)
    .filter((call) => !answered.has(call.id))
    .map((toolCall) => ({ toolCall, held: held.has(toolCall.id) }));
}


/**
 * Every tool-call id used in `messages` (for keeping new ones unique), and
 * the first id two calls share, if any: results are matched to calls by id.
 */
export function toolCallIds(messages: readonly AgentMessage[]): { readonly ids: Set<string>; readonly repeated: string | undefined } {
  const ids = new Set<string>();
  for (const message of messages) {
    if (message.type !== 'tool_call') continue;
    for (const call of message.payload.toolCalls) {
      if (ids.has(call.id)) return { ids, repeated: call.id };
      ids.add(call.id);
    }
  }
  return { ids, repeated: undefined };
}
