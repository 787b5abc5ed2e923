import type { ReceivedEvent } from './server-sent-events';

/** One thing shown in a chat transcript. */
export type ChatItem =
  | { readonly kind: 'user'; readonly key: string; readonly text: string }
  | { readonly kind: 'assistant'; readonly key: string; readonly text: string }
  | { readonly kind: 'tool'; readonly key: string; readonly name: string; readonly arguments: string; readonly result: string | undefined; readonly failed: boolean }
  | {
      readonly kind: 'approval';
      readonly key: string;
      readonly toolCallId: string;
      readonly name: string;
      readonly reason: string;
      /** The pending action the server stored for the call; absent for a call no action holds. */
      readonly action: HeldAction | undefined;
      readonly decision: ApprovalDecision;
    };

/** Where an approval card stands: waiting, being sent, or decided. */
export type ApprovalDecision = 'pending' | 'sending' | 'accepted' | 'rejected';

/** A pending action as the approval event (or the approvals list) shows it: what accepting runs, exactly. */
export interface HeldAction {
  readonly id: string;
  readonly summary: string;
  readonly preview: unknown;
  readonly input: unknown;
}

/** A chat as the page shows it. */
export interface ChatState {
  readonly sessionId: string | undefined;
  readonly items: readonly ChatItem[];
  readonly status: 'idle' | 'streaming' | 'completed' | 'stopped' | 'failed';
  /** The last failure, in the API's error shape. */
  readonly error: { readonly code: string; readonly message: string } | undefined;
}

/** An empty chat. */
export const emptyChat: ChatState = { sessionId: undefined, items: [], status: 'idle', error: undefined };

/** What changes a chat: the user sends, an event arrives, the user stops, the request fails. */
export type ChatAction =
  | { readonly type: 'send'; readonly text: string }
  /** A turn without a message: it applies the decisions taken on the session's held calls. */
  | { readonly type: 'continue' }
  | { readonly type: 'decision'; readonly toolCallId: string; readonly decision: ApprovalDecision }
  /** A stored session, opened from the list. */
  | { readonly type: 'opened'; readonly sessionId: string; readonly items: readonly ChatItem[] }
  | { readonly type: 'event'; readonly event: ReceivedEvent }
  | { readonly type: 'stopped' }
  /** The stream closed; a run that did not report its end lost its connection. */
  | { readonly type: 'ended' }
  | { readonly type: 'failed'; readonly code: string; readonly message: string };

/** Applies one action to a chat; pure, so the stream's rendering is testable without a server. */
export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'send':
      return { ...state, status: 'streaming', error: undefined, items: [...state.items, { kind: 'user', key: `user-${state.items.length}`, text: action.text }] };
    case 'continue':
      return { ...state, status: 'streaming', error: undefined };
    case 'decision':
      return { ...state, items: state.items.map((item) => (item.kind === 'approval' && item.toolCallId === action.toolCallId ? { ...item, decision: action.decision } : item)) };
    case 'opened':
      return { ...emptyChat, sessionId: action.sessionId, items: action.items, status: 'completed' };
    case 'stopped':
      return state.status === 'streaming' ? { ...state, status: 'stopped' } : state;
    case 'failed':
      return { ...state, status: 'failed', error: { code: action.code, message: action.message } };
    case 'ended':
      return state.status === 'streaming' ? { ...state, status: 'failed', error: { code: 'network.interrupted', message: 'The connection closed before the run ended; send again to go on.' } } : state;
    case 'event':
      return applyEvent(state, action.event);
  }
}

function applyEvent(state: ChatState, { event, data }: ReceivedEvent): ChatState {
  const payload = parse(data);
  switch (event) {
    case 'session':
      return { ...state, sessionId: text(payload.sessionId) ?? state.sessionId };
    case 'text_delta': {
      const key = `assistant-${text(payload.messageId) ?? 'current'}`;
      const index = state.items.findIndex((item) => item.key === key);
      const delta = text(payload.text) ?? '';
      if (index < 0) return { ...state, items: [...state.items, { kind: 'assistant', key, text: delta }] };
      return { ...state, items: state.items.map((item, at) => (at === index && item.kind === 'assistant' ? { ...item, text: item.text + delta } : item)) };
    }
    case 'tool_call': {
      const call = record(payload.toolCall);
      const id = text(call.id) ?? `call-${state.items.length}`;
      const item: ChatItem = { kind: 'tool', key: `tool-${id}`, name: text(call.name) ?? 'tool', arguments: pretty(call.arguments), result: undefined, failed: false };
      return { ...state, items: [...state.items, item] };
    }
    case 'tool_result': {
      const execution = record(payload.execution);
      const key = `tool-${text(execution.toolCallId) ?? ''}`;
      const failed = execution.outcome !== undefined && execution.outcome !== 'success';
      const shown = text(execution.content) ?? JSON.stringify(execution, null, 2);
      return { ...state, items: state.items.map((item) => (item.key === key && item.kind === 'tool' ? { ...item, result: shown, failed } : item)) };
    }
    case 'approval_required': {
      const pending = record(payload.pending);
      const call = record(pending.toolCall);
      const toolCallId = text(call.id) ?? `call-${state.items.length}`;
      return { ...state, items: [...state.items, approvalItem(toolCallId, text(call.name) ?? 'tool', text(pending.reason) ?? '', heldAction(payload.action), 'pending')] };
    }
    case 'run_end': {
      const result = record(payload.result);
      const status = text(result.status);
      return { ...state, status: status === 'cancelled' ? 'stopped' : status === 'completed' || status === undefined ? 'completed' : 'failed', error: status !== undefined && !['completed', 'cancelled', 'approval_required'].includes(status) ? { code: `run.${status}`, message: `The run ended ${status.replace(/_/g, ' ')}.` } : state.error };
    }
    case 'error': {
      const error = record(payload.error);
      return { ...state, status: 'failed', error: { code: text(error.code) ?? 'internal', message: text(error.message) ?? 'The run failed.' } };
    }
    default:
      return state;
  }
}

function approvalItem(toolCallId: string, name: string, reason: string, action: HeldAction | undefined, decision: ApprovalDecision): ChatItem {
  return { kind: 'approval', key: `approval-${toolCallId}`, toolCallId, name, reason, action, decision };
}

/** The action an approval event carries, when it has one. */
export function heldAction(value: unknown): HeldAction | undefined {
  const action = record(value);
  const id = text(action.id);
  return id === undefined ? undefined : { id, summary: text(action.summary) ?? '', preview: action.preview, input: action.input };
}

/** A stored action of the session, as the approvals list gives it. */
export interface StoredAction extends HeldAction {
  readonly toolCallId: string;
  readonly status: string;
}

/**
 * The items of a stored session, from its messages (the session route's
 * `messages[].message`) and the pending actions of the session: a held call
 * whose action is decided shows its decision.
 */
export function itemsFromMessages(messages: readonly Record<string, unknown>[], actions: readonly StoredAction[]): ChatItem[] {
  const items: ChatItem[] = [];
  const byCall = new Map(actions.map((action) => [action.toolCallId, action]));
  for (const message of messages) {
    const payload = record(message.payload);
    const content = text(message.content) ?? '';
    const key = text(message.id) ?? `stored-${items.length}`;
    if (message.type === 'text' && message.role === 'user') items.push({ kind: 'user', key, text: content });
    else if (message.type === 'text' && message.role === 'assistant') items.push({ kind: 'assistant', key, text: content });
    else if (message.type === 'tool_call') {
      if (content !== '') items.push({ kind: 'assistant', key, text: content });
      for (const call of Array.isArray(payload.toolCalls) ? payload.toolCalls.map(record) : []) {
        items.push({ kind: 'tool', key: `tool-${text(call.id) ?? items.length}`, name: text(call.name) ?? 'tool', arguments: pretty(call.arguments), result: undefined, failed: false });
      }
    } else if (message.type === 'tool_result') {
      const at = items.findIndex((item) => item.key === `tool-${text(payload.toolCallId) ?? ''}`);
      const item = items[at];
      if (item?.kind === 'tool') items[at] = { ...item, result: content, failed: payload.isError === true };
    } else if (message.type === 'approval_required') {
      const call = record(payload.toolCall);
      const toolCallId = text(call.id) ?? key;
      const stored = byCall.get(toolCallId);
      const decision: ApprovalDecision = stored === undefined || stored.status === 'pending' ? 'pending' : stored.status === 'rejected' ? 'rejected' : 'accepted';
      items.push(approvalItem(toolCallId, text(call.name) ?? 'tool', text(payload.reason) ?? content, stored, decision));
    }
  }
  return items;
}

function parse(data: string): Record<string, unknown> {
  try {
    return record(JSON.parse(data));
  } catch {
    return {};
  }
}

/** Tool arguments arrive as JSON text; shown indented when they parse. */
function pretty(value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value ?? {}, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
