import { z } from 'zod';
import { AgentsApiError, agentsApiErrorCodes } from '../errors';
import { countedTokens, emptyUsage, type ModelUsage } from '../providers/model-provider';
import { agentMessageSchema, toolCallSchema, type AgentMessage } from '../messages/message';
import type { BudgetName, ConversationLimits, ConversationResult, RunState, TranscriptPersister } from '../runner/conversation-runner';
import { defaultLimits } from '../runner/limits';
import type { RunRecord, RunUpdate, RunUsage } from '../transcripts/run-record';
import type { SessionOwner, TranscriptStore, UpdateRunOptions } from '../transcripts/transcript-store';

/**
 * Failures that interrupt a run rather than end it: its transcript may be
 * partial, so the record stays `running` and a retry with its key continues it.
 */
const interruptions = new Set<string>(['transcript.lease_lost', 'runner.persist_failed', 'transcript.store_failed']);

/** Whether `result` ends its run for good (a retry with the key gets it back) or only interrupts it. */
export function endsRun(result: ConversationResult): boolean {
  return result.status !== 'failed' || !interruptions.has(result.failure.code);
}

/**
 * The run's limits less what its earlier attempts spent, or the budget that
 * is already used up. A first attempt gets its limits back unchanged.
 */
export function remainingLimits(
  limits: ConversationLimits | undefined,
  used: RunUsage,
): { readonly limits: ConversationLimits | undefined } | { readonly exhausted: BudgetName } {
  if (used.turns === 0 && used.tokens === 0 && used.wallClockMs === 0) return { limits };
  const maxTurns = (limits?.maxTurns ?? defaultLimits.maxTurns) - used.turns;
  if (maxTurns <= 0) return { exhausted: 'turns' };
  const maxTokens = limits?.maxTokens === undefined ? undefined : limits.maxTokens - used.tokens;
  if (maxTokens !== undefined && maxTokens <= 0) return { exhausted: 'tokens' };
  const timeoutMs = limits?.timeoutMs === undefined ? undefined : limits.timeoutMs - used.wallClockMs;
  if (timeoutMs !== undefined && timeoutMs <= 0) return { exhausted: 'wall_clock' };
  return { limits: { ...limits, maxTurns, maxTokens, timeoutMs } };
}

/** The result of an attempt that found its budget spent before it began: no model call, nothing written. */
export function exhaustedResult(budget: BudgetName): ConversationResult {
  return { status: 'budget_exceeded', budget, messages: [], toolExecutions: [], usage: emptyUsage, turns: 0, finalContent: null };
}

/**
 * Whether the first attempt of a run already stored `input`: the messages
 * right after the run's start are the input (same ids, or same type, role
 * and content when the caller made the messages anew for the retry).
 */
export function inputAlreadyStored(stored: readonly { readonly seq: number; readonly message: AgentMessage }[], run: RunRecord, input: readonly AgentMessage[]): boolean {
  if (input.length === 0) return true;
  const after = stored.filter((entry) => entry.seq > run.seqAtStart).slice(0, input.length);
  if (after.length < input.length) return false;
  return input.every((message, index) => {
    const storedMessage = after[index]?.message;
    return storedMessage !== undefined && (storedMessage.id === message.id || (storedMessage.type === message.type && storedMessage.role === message.role && storedMessage.content === message.content));
  });
}

/** Per-turn figures the produced assistant messages carry (`payload.model`, `finishReason`, `usage`), where present. */
export function turnUsageOf(messages: readonly AgentMessage[]): unknown[] {
  const turns: unknown[] = [];
  for (const message of messages) {
    if (message.role !== 'assistant' || (message.type !== 'text' && message.type !== 'tool_call')) continue;
    const { payload } = message;
    if (payload.usage === undefined && payload.model === undefined && payload.finishReason === undefined) continue;
    turns.push({ model: payload.model ?? null, finishReason: payload.finishReason ?? null, usage: payload.usage ?? null });
  }
  return turns;
}

/** The total tokens a message's `payload.usage` reports, or 0 when it reports none. */
function totalTokensOf(message: AgentMessage): number {
  const usage: unknown = message.payload.usage;
  return typeof usage === 'object' && usage !== null && 'totalTokens' in usage && typeof usage.totalTokens === 'number' ? usage.totalTokens : 0;
}

/** Adds the numeric fields of a run's usage record and an attempt's usage; other fields are kept from the later one. */
function addUsageRecords(earlier: Readonly<Record<string, unknown>>, later: ModelUsage): Record<string, unknown> {
  const sum: Record<string, unknown> = { ...earlier, ...later };
  for (const [key, value] of Object.entries(later)) {
    const before = earlier[key];
    if (typeof value === 'number' && typeof before === 'number') sum[key] = before + value;
  }
  return sum;
}

/** What the run has spent once this attempt's figures are added. */
export function usedAfter(run: RunRecord, turns: number, tokens: number, attemptMs: number): RunUsage {
  return { turns: run.used.turns + turns, tokens: run.used.tokens + tokens, wallClockMs: run.used.wallClockMs + Math.max(0, Math.round(attemptMs)) };
}

/**
 * Records an attempt's outcome on its run: an ending (status, failure code,
 * result, end time) or, for an interruption, only what it spent. With
 * `updateOptions.releaseLockToken`, the lease is released in the same step.
 */
export async function finishRunRecord(
  store: TranscriptStore,
  owner: SessionOwner,
  run: RunRecord,
  result: ConversationResult,
  attemptMs: number,
  updateOptions?: UpdateRunOptions,
): Promise<RunRecord> {
  return store.updateRun(owner, run.sessionId, run.id, runEndUpdate(run, result, attemptMs), updateOptions);
}

/** The update {@link finishRunRecord} applies, for a write that carries it itself (an append's `endRun`). */
export function runEndUpdate(run: RunRecord, result: ConversationResult, attemptMs: number): RunUpdate {
  const common = {
    used: usedAfter(run, result.turns, countedTokens(result.usage), attemptMs),
    usage: addUsageRecords(run.usage, result.usage),
    turnUsage: [...run.turnUsage, ...turnUsageOf(result.messages)],
  };
  if (!endsRun(result)) return common;
  return { ...common, status: result.status, failureCode: result.status === 'failed' ? result.failure.code : null, result, ended: true };
}

/**
 * Wraps a persister so that each stored step also records what the run has
 * spent so far, so a crash mid-run leaves the budgets a retry must respect.
 * Best effort: the step is stored either way, and the run's end writes the
 * figures again.
 */
export function recordingProgress(
  persister: TranscriptPersister,
  store: TranscriptStore,
  owner: SessionOwner,
  run: RunRecord,
  attemptStartedAt: number,
  now: () => number,
): TranscriptPersister {
  let tokens = 0;
  return {
    persist: async (messages: readonly AgentMessage[], state: RunState) => {
      await persister.persist(messages, state);
      for (const message of messages) tokens += totalTokensOf(message);
      await store.updateRun(owner, run.sessionId, run.id, { used: usedAfter(run, state.turn, tokens, now() - attemptStartedAt) }).catch(() => undefined);
    },
  };
}

const modelUsageSchema = z.object({
  inputTokens: z.number().optional(),
  outputTokens: z.number().optional(),
  totalTokens: z.number().optional(),
  cachedInputTokens: z.number().optional(),
  reasoningTokens: z.number().optional(),
});
const resultBase = {
  messages: z.array(agentMessageSchema),
  toolExecutions: z.array(
    z.object({
      toolCallId: z.string(),
      toolName: z.string(),
      arguments: z.unknown(),
      outcome: z.enum(['success', 'error', 'rejected', 'replaced']),
      content: z.string(),
    }),
  ),
  usage: modelUsageSchema,
  turns: z.int().min(0),
  finalContent: z.string().nullable(),
};
const budgetNameSchema = z.enum(['turns', 'tool_calls', 'tool_calls_per_tool', 'wall_clock', 'tokens']);

/** A stored run's result, as the store gives it back (JSON): checked at the edge, so what is read is what the type says. */
const storedResultSchema = z.discriminatedUnion('status', [
  z.object({ ...resultBase, status: z.literal('completed') }),
  z.object({ ...resultBase, status: z.literal('failed'), failure: z.object({ code: z.enum(agentsApiErrorCodes), message: z.string(), retryable: z.boolean() }) }),
  z.object({ ...resultBase, status: z.literal('approval_required'), pending: z.array(z.object({ toolCall: toolCallSchema, reason: z.string() })) }),
  z.object({
    ...resultBase,
    status: z.literal('tool_calls_required'),
    pendingToolCalls: z.array(z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }) })),
  }),
  z.object({ ...resultBase, status: z.literal('input_required'), question: z.string() }),
  z.object({ ...resultBase, status: z.literal('budget_exceeded'), budget: budgetNameSchema }),
  z.object({ ...resultBase, status: z.literal('stalled'), repeatedCall: toolCallSchema }),
  z.object({ ...resultBase, status: z.literal('cancelled') }),
]) satisfies z.ZodType<ConversationResult>;

/**
 * The result an ended run stored, checked: a stored result that is not a
 * conversation result (written by another version, or by hand) is
 * `transcript.store_failed`, not trusted.
 */
export function storedResult(run: RunRecord): ConversationResult {
  const parsed = storedResultSchema.safeParse(run.result);
  if (parsed.success) return parsed.data;
  throw new AgentsApiError('transcript.store_failed', `The stored result of run "${run.id}" is not a conversation result: ${z.prettifyError(parsed.error)}`, {
    details: { sessionId: run.sessionId, runId: run.id },
  });
}
