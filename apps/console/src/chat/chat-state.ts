import type { ReceivedEvent } from './server-sent-events';

/** One thing shown in a chat transcript. */
export type ChatItem =
  | { readonly kind: 'user'; readonly key: string; readonly text: string }
  | { readonly kind: 'assistant'; readonly key: string; readonly text: string }
  | { readonly kind: 'tool'; readonly key: string; readonly name: string; readonly arguments: string; readonly result: string | undefined; readonly failed: boolean }
  | { readonly kind: 'approval'; readonly key: string; readonly name: string; readonly reason: string };

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
      return { ...state, items: [...state.items, { kind: 'approval', key: `approval-${text(call.id) ?? state.items.length}`, name: text(call.name) ?? 'tool', reason: text(pending.reason) ?? '' }] };
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
