import type { AgentsApiErrorCode } from '../errors';
import type { AgentMessage, ToolCall } from '../messages/message';
import type { Principal } from '../permissions/principal';
import type { ModelResponseFormat, ModelToolChoice, ModelUsage } from '../providers/model-provider';
import type { AnyToolDefinition } from '../tools/tool';

/** Bounds on one run; every one is enforced by the built-in loop. */
export interface ConversationLimits {
  /** Model calls; default 10. */
  readonly maxTurns?: number;
  /** Tool calls in total. */
  readonly maxToolCalls?: number;
  /** Tool calls per tool name. */
  readonly maxCallsPerTool?: number;
  /** Wall-clock time for the whole run, in ms; default 300,000 (5 minutes), at most 2^31 - 1. */
  readonly timeoutMs?: number;
  /** Total tokens; a `budget_warning` event fires at 80 %. */
  readonly maxTokens?: number;
  /** Tool calls of one turn run at most this many at once; default 4. */
  readonly toolConcurrency?: number;
  /** A tool result longer than this is cut, with a `tool_result_truncated` event; default 16,000 characters. */
  readonly maxToolResultChars?: number;
  /** The same failing call (name and arguments) this many times in a row ends the run as `stalled`; default 3. */
  readonly maxRepeatedFailures?: number;
}

/** A later run's decision on a call that was held for approval. */
export interface ApprovalDecision {
  readonly toolCallId: string;
  readonly approved: boolean;
  /** Told to the model when the call is rejected. */
  readonly reason?: string;
}

/** One run of an agent. */
export interface ConversationRequest {
  /** The system prompt (the agent's instructions, composed memory…); never stored. */
  readonly instructions?: string;
  /** The conversation so far, ending with the new input. */
  readonly messages: readonly AgentMessage[];
  readonly tools?: readonly AnyToolDefinition[];
  /** The acting context, handed to every tool and seam. */
  readonly principal: Principal;
  /**
   * What the acting user was granted. A tool with a `capability` runs only if
   * the principal's ceiling lets it through and, when this is given, it was
   * granted (see `can`); otherwise the model is told it is not permitted.
   */
  readonly granted?: readonly string[];
  /** Host data tools receive as `runtimeContext`. */
  readonly runtimeContext?: Readonly<Record<string, unknown>>;
  /** Copied onto every message the run produces. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly limits?: ConversationLimits;
  readonly model?: string;
  readonly temperature?: number;
  readonly topP?: number;
  /** Output tokens per model call, reasoning included. */
  readonly maxOutputTokens?: number;
  /** Applies to every model call of the run; `{ name }` must name one of `tools`. */
  readonly toolChoice?: ModelToolChoice;
  readonly responseFormat?: ModelResponseFormat;
  readonly stop?: string | readonly string[];
  /** Decisions on calls a previous run held for approval; the run applies them before calling the model. */
  readonly approvals?: readonly ApprovalDecision[];
}

/** Why a run stopped early on a budget. */
export type BudgetName = 'turns' | 'tool_calls' | 'tool_calls_per_tool' | 'wall_clock' | 'tokens';

/** What happened to one tool call. */
export interface ToolExecution {
  readonly toolCallId: string;
  readonly toolName: string;
  /** The model's arguments, parsed when they were JSON. */
  readonly arguments: unknown;
  /**
   * `success`: ran and returned. `error`: threw, was unknown, or had bad arguments
   * (the model got an error tool message). `rejected` / `replaced`: the mediator
   * answered instead of the tool.
   */
  readonly outcome: 'success' | 'error' | 'rejected' | 'replaced';
  /** The tool message content the model got. */
  readonly content: string;
}

/** A failure that ended a run. */
export interface RunFailure {
  /** The same codes errors carry, so one mapping (retry rule, HTTP status) serves both. */
  readonly code: AgentsApiErrorCode;
  readonly message: string;
  /** Whether running the same request again later may succeed: `isRetryableCode(code)`. */
  readonly retryable: boolean;
}

interface ResultBase {
  /** The messages this run produced, in order (not the request's). */
  readonly messages: readonly AgentMessage[];
  readonly toolExecutions: readonly ToolExecution[];
  /** Summed over the run's model calls (see `addUsage`); each assistant message's `payload.usage` has its turn's. */
  readonly usage: ModelUsage;
  /** Model calls made. */
  readonly turns: number;
  /** The last assistant text, if any. */
  readonly finalContent: string | null;
}

/** How a run ended. Expected outcomes are statuses, not exceptions. */
export type ConversationResult =
  | (ResultBase & { readonly status: 'completed' })
  | (ResultBase & { readonly status: 'failed'; readonly failure: RunFailure })
  | (ResultBase & { readonly status: 'approval_required'; readonly pending: readonly PendingApproval[] })
  | (ResultBase & { readonly status: 'tool_calls_required'; readonly pendingToolCalls: readonly ClientToolCall[] })
  | (ResultBase & { readonly status: 'input_required'; readonly question: string })
  | (ResultBase & { readonly status: 'budget_exceeded'; readonly budget: BudgetName })
  | (ResultBase & { readonly status: 'stalled'; readonly repeatedCall: ToolCall })
  | (ResultBase & { readonly status: 'cancelled' });

export type ConversationStatus = ConversationResult['status'];

/**
 * A call of a client-side tool, in OpenAI's shape, for the caller to run. The
 * caller runs it and starts a later run with the conversation plus one `tool`
 * message per call (`tool_result` envelopes answering these ids).
 */
export interface ClientToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

/** A tool call waiting for a decision. */
export interface PendingApproval {
  readonly toolCall: ToolCall;
  readonly reason: string;
}

/**
 * Where an event sits: `index` counts the run's events from 0 in emit order;
 * `messageId` is the message it belongs to (a turn's deltas, tool-call
 * deltas and budget warning belong to the assistant message that turn
 * records, whose id is chosen before the model call; a tool result to its
 * `tool_result` message; `run_end` to the run's last message, or null when
 * it produced none). A server can send `${messageId}:${index}` as an SSE `id:`.
 */
export interface ConversationEventPlace {
  readonly index: number;
  readonly messageId: string | null;
}

/** What a run emits as it goes; names read noun-verb. Every event carries its {@link ConversationEventPlace}. */
export type ConversationEvent = ConversationEventPlace &
  (
  | { readonly type: 'turn_start'; readonly turn: number }
  | { readonly type: 'text_delta'; readonly text: string }
  /** A piece of a tool call's arguments as the model streams it; `toolCallIndex` is the call's place in the turn's calls. */
  | { readonly type: 'tool_call_delta'; readonly toolCallIndex: number; readonly toolCallId?: string; readonly toolName?: string; readonly argumentsDelta: string }
  | { readonly type: 'message'; readonly message: AgentMessage }
  | { readonly type: 'tool_call'; readonly toolCall: ToolCall }
  | { readonly type: 'tool_result'; readonly execution: ToolExecution }
  | { readonly type: 'tool_result_truncated'; readonly toolCallId: string; readonly originalLength: number; readonly keptLength: number }
  | { readonly type: 'budget_warning'; readonly budget: 'tokens'; readonly used: number; readonly limit: number }
  | { readonly type: 'approval_required'; readonly pending: PendingApproval }
  | { readonly type: 'run_end'; readonly result: ConversationResult }
  );

/** Per-run options. */
export interface RunOptions {
  /** Aborting ends the run as `cancelled` within one step. */
  readonly signal?: AbortSignal;
}

/**
 * Runs a conversation. `run` resolves to the result; `stream` yields the
 * events as they happen and ends with `run_end`, whose result is the same.
 */
export interface ConversationRunner {
  run(request: ConversationRequest, options?: RunOptions): Promise<ConversationResult>;
  stream(request: ConversationRequest, options?: RunOptions): AsyncIterable<ConversationEvent>;
}

/** What the seams see of a run in progress. */
export interface RunState {
  readonly request: ConversationRequest;
  readonly turn: number;
  /** The request's messages followed by everything produced so far. */
  readonly messages: readonly AgentMessage[];
  readonly toolExecutions: readonly ToolExecution[];
}

/**
 * Decides whether the model's final answer ends the run. Return
 * `{ complete: false, nudge }` to send `nudge` as a system message and go
 * on (e.g. "not done until tool X was called"); the turn budget still applies.
 */
export interface CompletionPolicy {
  check(state: RunState): { readonly complete: true } | { readonly complete: false; readonly nudge: string };
}

/** The mediator's answer for one tool call. */
export type MediatorDecision =
  | { readonly action: 'proceed' }
  | { readonly action: 'reject'; readonly reason: string }
  | { readonly action: 'replace'; readonly content: string }
  | { readonly action: 'hold'; readonly reason: string };

/**
 * Sees every tool call before it runs. `hold` ends the run as
 * `approval_required` with the call pending; a later run resumes it through
 * `ConversationRequest.approvals`.
 */
export interface ToolMediator {
  mediate(toolCall: ToolCall, tool: AnyToolDefinition | undefined, state: RunState): MediatorDecision | Promise<MediatorDecision>;
}

/**
 * Stores what a run produces as it goes. A tool step calls it twice: once
 * with the assistant's tool-call message, then with all of that step's tool
 * results, so a crash between the two is visible and resumable. A throw ends
 * the run as `failed` with `runner.persist_failed`.
 */
export interface TranscriptPersister {
  persist(messages: readonly AgentMessage[], state: RunState): Promise<void>;
}

/** Observes events; a sink that throws or rejects is reported to `onSinkError` and never breaks the run. */
export interface EventSink {
  onEvent(event: ConversationEvent): void | Promise<void>;
}
