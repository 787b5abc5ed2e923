import { AgentsApiError, isRetryableCode } from '../errors';
import type { AgentMessage } from '../messages/message';
import type { ConversationResult, TranscriptPersister } from '../runner/conversation-runner';
import type { RunRecord } from '../transcripts/run-record';
import type { SessionOwner, TranscriptSession, TranscriptStore } from '../transcripts/transcript-store';
import { storeCall, type SessionLease } from './session-lease';
import { finishRunRecord, runEndUpdate } from './session-run-record';

/**
 * A persister that holds back a run's possible last answer, so the stream
 * can store it with the run's ending and the lease's release in one
 * statement (an append's `endRun`) instead of two; and, for the stream, that
 * writes a step's tool results behind the run's next model call. See
 * docs/decisions/2026-11-30-durable-streaming.md, "Cost" and "2026-12-01, stop 21".
 */
export interface LastWrite {
  readonly persister: TranscriptPersister;
  /** Whether the message waits to be written with the run's end. */
  holds(messageId: string): boolean;
  /** Whether the message was held and has since been written by a later write. */
  written(messageId: string): boolean;
  /** The held messages, taken out: the caller writes them with the run's end. */
  take(): readonly AgentMessage[];
  /**
   * For a message written behind (its write still in flight when the run
   * went on), the write: resolves to whether it stored the message. Asked
   * once per message; undefined for any other message.
   */
  behind(messageId: string): Promise<boolean> | undefined;
  /** Waits for the write behind, if any; resolves to its failure and the messages it did not store, if it failed. */
  settle(): Promise<WriteBehindFailure | undefined>;
}

/** A write behind that failed: the store's error and the messages it did not store. */
export interface WriteBehindFailure {
  readonly error: unknown;
  readonly messages: readonly AgentMessage[];
}

/**
 * Wraps `inner`: a write of one assistant text message alone (an answer,
 * after which a run usually ends) is held, and resolves at once; any later
 * write stores it first, so the transcript keeps its order. The stream holds
 * the message's event back until it is stored, so a consumer is never sent a
 * message whole that is not stored.
 *
 * With `writeBehind`, a write of tool results alone resolves at once too,
 * its write in flight, so the run's next model call (which has no side
 * effects) goes out beside it. Every later write, and every hold, waits for
 * it first and throws its failure, so nothing is stored after a lost write
 * and no tool runs after it (a tool runs only after its call is stored).
 * The stream holds the results' events, and every event after them, until
 * the write has landed (see {@link LastWrite.behind}).
 */
export function holdingLastAnswer(inner: TranscriptPersister, options: { readonly writeBehind?: boolean } = {}): LastWrite {
  let held: readonly AgentMessage[] = [];
  // Made on first use: most runs never write behind, and a held answer is usually written
  // with the run's end, not flushed; each stream's start makes one of these before its model call.
  let flushed: Set<string> | undefined;
  let behind: Map<string, Promise<boolean>> | undefined;
  let inFlight: Promise<boolean> | undefined;
  let failure: WriteBehindFailure | undefined;
  const landed = async (): Promise<void> => {
    if (inFlight) await inFlight;
    if (failure) throw failure.error;
  };
  return {
    persister: {
      async persist(messages, state) {
        await landed();
        if (held.length > 0) {
          const earlier = held;
          held = [];
          await inner.persist(earlier, state);
          flushed ??= new Set();
          for (const message of earlier) flushed.add(message.id);
        }
        if (isAnswer(messages)) held = messages;
        else if (options.writeBehind === true && isToolResults(messages)) {
          // The run goes on while this is written: the write sees this step's turn, not a later
          // one (a run's progress record counts turns). The arrays are the run's own, not copied.
          const atWrite = { request: state.request, turn: state.turn, messages: state.messages, toolExecutions: state.toolExecutions };
          const write = inner.persist(messages, atWrite).then(
            () => true,
            (error: unknown) => {
              failure = { error, messages };
              return false;
            },
          );
          inFlight = write;
          behind ??= new Map();
          for (const message of messages) behind.set(message.id, write);
        } else await inner.persist(messages, state);
      },
    },
    holds: (messageId) => held.some((message) => message.id === messageId),
    written: (messageId) => flushed?.has(messageId) === true,
    take() {
      const taken = held;
      held = [];
      return taken;
    },
    behind(messageId) {
      const write = behind?.get(messageId);
      behind?.delete(messageId);
      return write;
    },
    async settle() {
      if (inFlight) await inFlight;
      return failure;
    },
  };
}

function isToolResults(messages: readonly AgentMessage[]): boolean {
  return messages.length > 0 && messages.every((message) => message.type === 'tool_result');
}

function isAnswer(messages: readonly AgentMessage[]): boolean {
  const [only] = messages;
  return messages.length === 1 && only !== undefined && only.type === 'text' && only.role === 'assistant';
}

/** How {@link endRunWithAnswer} ended a run: the result as stored, and whether the held answer was stored with it. */
export interface RunEnding {
  readonly result: ConversationResult;
  readonly answerStored: boolean;
  /**
   * The session as the answer's write left it (the append returns it), so
   * the caller need not read it again; undefined when no answer was stored.
   */
  readonly session: TranscriptSession | undefined;
}

/**
 * A run's last write, for the stream and the non-stream runner alike: its
 * held answer (if any), its record's ending and the lease's release in one
 * statement (an append's `endRun`); with no answer, the ending and the
 * release in one `updateRun`. An answer the store refuses is not stored, and
 * the run ends `failed` with the store's code (a lost lease:
 * `transcript.lease_lost`, which marks `lease` lost). If recording the ending
 * fails, the lease is released anyway and, with `rethrow`, the failure is thrown.
 * See docs/decisions/2026-11-30-durable-streaming.md, "Cost".
 */
export async function endRunWithAnswer(
  store: TranscriptStore,
  owner: SessionOwner,
  run: RunRecord,
  lease: SessionLease,
  answer: readonly AgentMessage[],
  outcome: ConversationResult,
  attemptMs: number,
  options: { readonly rethrow: boolean },
): Promise<RunEnding> {
  const recordEnding = async (result: ConversationResult): Promise<void> => {
    try {
      await storeCall(() => finishRunRecord(store, owner, run, result, attemptMs, { releaseLockToken: lease.token }));
    } catch (error) {
      await store.releaseLock(owner, lease.sessionId, lease.token).catch(() => undefined);
      if (options.rethrow) throw error;
    }
  };
  if (answer.length === 0) {
    await recordEnding(outcome);
    return { result: outcome, answerStored: false, session: undefined };
  }
  try {
    const appended = await storeCall(() =>
      store.append(owner, lease.sessionId, answer, undefined, { lockToken: lease.token, endRun: { runId: run.id, update: runEndUpdate(run, outcome, attemptMs) } }),
    );
    return { result: outcome, answerStored: true, session: appended.session };
  } catch (error) {
    if (AgentsApiError.isInstance(error) && error.code === 'transcript.lease_lost') lease.markLost();
    const result = withoutUnstored(outcome, answer, error);
    await recordEnding(result);
    return { result, answerStored: false, session: undefined };
  }
}

/** A run whose messages (a held answer, results written behind) could not be stored: `failed` with the store's code, without them. */
export function withoutUnstored(result: ConversationResult, answer: readonly AgentMessage[], error: unknown): ConversationResult {
  const code = AgentsApiError.isInstance(error) ? error.code : 'transcript.store_failed';
  const message = error instanceof Error ? error.message : String(error);
  const unstored = new Set(answer.map((entry) => entry.id));
  return {
    status: 'failed',
    failure: { code, message, retryable: isRetryableCode(code) },
    messages: result.messages.filter((entry) => !unstored.has(entry.id)),
    toolExecutions: result.toolExecutions,
    usage: result.usage,
    turns: result.turns,
    finalContent: result.finalContent,
  };
}
