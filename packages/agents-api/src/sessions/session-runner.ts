import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { agentMessageSchema, type AgentMessage } from '../messages/message';
import type { ConversationRequest, ConversationResult, ConversationRunner, RunOptions, TranscriptPersister } from '../runner/conversation-runner';
import { idempotencyKeySchema } from '../transcripts/run-record';
import { createFencedPersister, defaultLeaseTtlMs, storeCall, withLeaseOutcome, withSessionLease } from './session-lease';
import { exhaustedResult, finishRunRecord, inputAlreadyStored, recordingProgress, remainingLimits } from './session-run-record';
import {
  parseTranscriptInput,
  sessionNotFound,
  type NewSession,
  type SessionOwner,
  type TranscriptSession,
  type TranscriptStore,
} from '../transcripts/transcript-store';

/** What {@link createSessionRunner} is made of. */
export interface SessionRunnerOptions {
  readonly store: TranscriptStore;
  /**
   * Builds the runner for one session run around the persister that writes
   * to the store, e.g. `(persister) => createToolLoopRunner({ provider, persister })`.
   */
  readonly createRunner: (persister: TranscriptPersister) => ConversationRunner;
  /**
   * How long each take or renewal of the session's lock lasts; default 15
   * seconds. The run renews it every third of that while it lives, so a
   * crashed run frees the session within one lease. A run whose renewal is
   * refused stops and ends `failed` with `transcript.lease_lost`; every
   * write is fenced by the lease, so it writes nothing more.
   */
  readonly lockTtlMs?: number;
  /** The clock for the wall-clock time a run spends (counted across its attempts); default `Date.now`. */
  readonly now?: () => number;
}

/** The conversation fields a session run passes through to the runner. */
type RunFields = Omit<ConversationRequest, 'messages' | 'approvals'>;

/** A new session and its first input. */
export interface StartSessionRequest extends RunFields {
  /**
   * Makes the start safe to retry (a worker that retries): the same key on the
   * same `session.id` (required with a key) returns the run's result if it
   * ended, or continues it if it was interrupted, never storing the input
   * twice or calling the model again for a finished turn.
   */
  readonly idempotencyKey?: string;
  /** Must name the principal's user: a run never writes into another user's session. */
  readonly owner: SessionOwner;
  readonly session: NewSession;
  readonly input: readonly AgentMessage[];
}

/** A stored session to continue, with new input, decisions on held calls, or neither (to finish an interrupted step). */
export interface ResumeSessionRequest extends RunFields {
  /** As for `start`: the same key on the same session is the same run. Budgets count across its attempts. */
  readonly idempotencyKey?: string;
  readonly owner: SessionOwner;
  readonly sessionId: string;
  readonly input?: readonly AgentMessage[];
  readonly approvals?: ConversationRequest['approvals'];
}

/** A session run's outcome: the session as it now is, and the run's result. */
export interface SessionRunResult {
  readonly session: TranscriptSession;
  readonly result: ConversationResult;
  /** The run's record (see `TranscriptStore.getRun`). */
  readonly runId: string;
}

/** Runs conversations whose transcript lives in a {@link TranscriptStore}. */
export interface SessionRunner {
  /** Creates the session, stores the input, and runs. */
  start(request: StartSessionRequest, options?: RunOptions): Promise<SessionRunResult>;
  /**
   * Loads the session and runs on. Calls that a crash left without results
   * are finished first: tools marked `retrySafe` run again, the others are
   * answered with an error and never run twice. Throws `transcript.not_durable`
   * on a store that is not durable, and `transcript.session_locked` while
   * another run holds the session, both before any model call.
   */
  resume(request: ResumeSessionRequest, options?: RunOptions): Promise<SessionRunResult>;
}


/**
 * Durable runs: every message a run produces is appended to the store as it
 * is produced (a tool step in two appends: its calls, then their results), so
 * a run that dies can be resumed from the last append.
 *
 * @example
 * const sessions = createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider, persister }) });
 * const { session } = await sessions.start({ owner, session: { agentSlug: 'writer' }, input: [question], principal, tools });
 * await sessions.resume({ owner, sessionId: session.id, input: [followUp], principal, tools });
 */
export function createSessionRunner(options: SessionRunnerOptions): SessionRunner {
  const lockTtlMs = options.lockTtlMs ?? defaultLeaseTtlMs;
  if (!Number.isInteger(lockTtlMs) || lockTtlMs < 1) {
    throw new AgentsApiError('transcript.invalid_request', `lockTtlMs must be a positive whole number (got ${String(lockTtlMs)})`);
  }
  const { store } = options;

  const now = options.now ?? Date.now;

  /**
   * One attempt of a run, under the session's lease: finds or begins the run
   * record, returns an ended run's result as it is, stores the input unless
   * an earlier attempt did, and runs with what is left of the budgets.
   */
  async function attempt(owner: SessionOwner, sessionId: string, plan: AttemptPlan, runOptions: RunOptions | undefined): Promise<SessionRunResult> {
    return withSessionLease(store, owner, sessionId, { ttlMs: lockTtlMs }, async (lease) => {
      const session = await storeCall(() => currentSession(store, owner, sessionId));
      checkAgent(session, plan.fields.principal.agentSlug);
      const stored = await storeCall(() => store.loadMessages(owner, sessionId));
      const begin = await storeCall(() =>
        store.beginRun(owner, sessionId, { agentSlug: session.agentSlug, idempotencyKey: plan.idempotencyKey, seqAtStart: plan.seqAtStart ?? session.lastSeq }),
      );
      const { run } = begin;
      if (run.status !== 'running') return { session, result: run.result as ConversationResult, runId: run.id };
      const inputStored = plan.inputStored || (!begin.created && inputAlreadyStored(stored, run, plan.input));
      if (!inputStored && plan.input.length > 0) {
        await storeCall(() => store.append(owner, sessionId, plan.input, undefined, { lockToken: lease.token }));
      }
      const messages = stored.map((entry) => entry.message);
      if (!inputStored) messages.push(...plan.input);
      const approvals = openApprovals(plan.approvals, messages);
      const budget = remainingLimits(plan.fields.limits, run.used);
      const startedAt = now();
      let result: ConversationResult;
      if ('exhausted' in budget) {
        result = exhaustedResult(budget.exhausted);
      } else {
        const signal = runOptions?.signal ? AbortSignal.any([runOptions.signal, lease.signal]) : lease.signal;
        const persister = recordingProgress(createFencedPersister(store, owner, lease), store, owner, run, startedAt, now);
        const request: ConversationRequest = { ...plan.fields, limits: budget.limits, messages, ...(approvals ? { approvals } : {}) };
        result = withLeaseOutcome(await options.createRunner(persister).run(request, { signal }), lease);
      }
      await storeCall(() => finishRunRecord(store, owner, run, result, now() - startedAt));
      return { session: await storeCall(() => currentSession(store, owner, sessionId)), result, runId: run.id };
    });
  }

  return {
    async start(request, runOptions) {
      const { owner, session: newSession, input: _input, idempotencyKey: _key, ...fields } = request;
      checkOwner(owner, fields.principal.userId);
      // Checked before the session exists, so bad input leaves no empty session behind.
      const input = parseInput(request.input);
      const idempotencyKey = parseKey(request.idempotencyKey);
      checkAgent({ id: newSession.id ?? '(new)', agentSlug: newSession.agentSlug }, fields.principal.agentSlug);
      if (idempotencyKey !== undefined && newSession.id === undefined) {
        throw new AgentsApiError('transcript.invalid_request', 'A start with an idempotency key must name its session id: a retry finds the run through it.');
      }
      // The session and its input in one step: input the store refuses leaves no empty session.
      const created = await storeCall(() => store.createSession(owner, newSession, { messages: input })).catch((error: unknown) => {
        // A retried start: the first attempt created the session (and stored the input with it).
        if (idempotencyKey !== undefined && AgentsApiError.isInstance(error) && error.code === 'transcript.session_exists') return undefined;
        throw error;
      });
      const sessionId = created?.id ?? (newSession.id as string);
      return attempt(owner, sessionId, { fields, input, idempotencyKey, seqAtStart: 0, inputStored: true }, runOptions);
    },

    async resume(request, runOptions) {
      const { owner, sessionId, approvals, input: _input, idempotencyKey: _key, ...fields } = request;
      if (!store.durable) {
        throw new AgentsApiError('transcript.not_durable', `This transcript store keeps nothing across restarts, so session "${sessionId}" cannot be resumed.`, {
          details: { sessionId },
        });
      }
      checkOwner(owner, fields.principal.userId);
      const input = parseInput(request.input ?? []);
      const idempotencyKey = parseKey(request.idempotencyKey);
      return attempt(owner, sessionId, { fields, input, idempotencyKey, approvals, inputStored: false }, runOptions);
    },
  };
}

/** What one attempt of a session run is asked to do. */
interface AttemptPlan {
  readonly fields: RunFields;
  readonly input: readonly AgentMessage[];
  readonly idempotencyKey: string | undefined;
  readonly approvals?: ConversationRequest['approvals'];
  /** Where the run's messages start; default the session's last sequence number. */
  readonly seqAtStart?: number;
  /** Whether the input is stored already (`start` stores it with the session). */
  readonly inputStored: boolean;
}

/**
 * The decisions still to apply: a continued run may find some calls already
 * answered by its first attempt, and deciding on those again would be refused.
 */
function openApprovals(approvals: ConversationRequest['approvals'], messages: readonly AgentMessage[]): ConversationRequest['approvals'] {
  if (!approvals?.length) return approvals;
  const answered = new Set(messages.flatMap((message) => (message.type === 'tool_result' ? [message.payload.toolCallId] : [])));
  const open = approvals.filter((decision) => !answered.has(decision.toolCallId));
  return open.length > 0 ? open : undefined;
}

/** A session belongs to one agent: a run as another agent would speak in its name. */
function checkAgent(session: Pick<TranscriptSession, 'id' | 'agentSlug'>, agentSlug: string): void {
  if (session.agentSlug === agentSlug) return;
  throw new AgentsApiError('transcript.invalid_request', `Session "${session.id}" belongs to agent "${session.agentSlug}", not "${agentSlug}".`, {
    details: { sessionId: session.id, sessionAgent: session.agentSlug, principalAgent: agentSlug },
  });
}

/** Context wins over input: a run acts for its principal's user and may only write that user's sessions. */
function checkOwner(owner: SessionOwner, principalUserId: string | null): void {
  if (owner.userId === principalUserId) return;
  throw new AgentsApiError('transcript.invalid_request', "The session's owner must be the principal's user.", {
    details: { ownerUserId: owner.userId, principalUserId },
  });
}

async function currentSession(store: TranscriptStore, owner: SessionOwner, sessionId: string): Promise<TranscriptSession> {
  const session = await store.getSession(owner, sessionId);
  if (!session) throw sessionNotFound(sessionId);
  return session;
}

const inputSchema = z.array(agentMessageSchema);

function parseInput(input: unknown): AgentMessage[] {
  return parseTranscriptInput(inputSchema, input, 'session input');
}

function parseKey(key: unknown): string | undefined {
  return key === undefined ? undefined : parseTranscriptInput(idempotencyKeySchema, key, 'idempotency key');
}
