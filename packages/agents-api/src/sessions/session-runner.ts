import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { agentMessageSchema, type AgentMessage } from '../messages/message';
import { parseMessageList } from '../messages/well-formed-message';
import type { Principal } from '../permissions/principal';
import type { ConversationRequest, ConversationResult, ConversationRunner, RunOptions, TranscriptPersister } from '../runner/conversation-runner';
import { idempotencyKeySchema } from '../transcripts/run-record';
import { defaultLeaseTtlMs, holdLease, storeCall, takeLease, withLeaseOutcome, type HeldLease, type SessionLease } from './session-lease';
import { checkAgent, currentSession, planAttempt, prepareAttempt, type AttemptPlan, type EndedAttempt, type ReadyAttempt } from './session-attempt';
import { endRunWithAnswer, holdingLastAnswer } from './session-last-write';
import { exhaustedResult } from './session-run-record';
import {
  parseTranscriptInput,
  sessionLocked,
  type NewSession,
  type SessionOwner,
  type TranscriptSession,
  type TranscriptStore,
} from '../transcripts/transcript-store';
import { createSessionStreams, type SessionStreams } from './session-stream';

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
export type RunFields = Omit<ConversationRequest, 'messages' | 'approvals'>;

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
  /** The same runs, streamed: every event as it happens, with an SSE id; see {@link SessionStreams}. */
  readonly stream: SessionStreams;
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
   * Runs an attempt under a lease just taken: prepares it, runs it with its
   * possible last answer held back, and ends it with that answer, the run's
   * ending and the lease's release in one write (see {@link endRunWithAnswer}).
   */
  async function runHeld(owner: SessionOwner, held: HeldLease, prepare: (lease: SessionLease) => Promise<EndedAttempt | ReadyAttempt>): Promise<SessionRunResult> {
    const { lease } = held;
    let released = false;
    try {
      const prepared = await prepare(lease);
      if (prepared.status === 'ended') return prepared.outcome;
      const lastWrite = holdingLastAnswer(prepared.persister);
      const result =
        prepared.exhausted !== undefined
          ? exhaustedResult(prepared.exhausted)
          : withLeaseOutcome(await options.createRunner(lastWrite.persister).run(prepared.request, prepared.runOptions), lease);
      held.stop();
      released = true;
      const ending = await endRunWithAnswer(store, owner, prepared.run, lease, lastWrite.take(), result, now() - prepared.startedAt, { rethrow: true });
      return { session: ending.session ?? (await storeCall(() => currentSession(store, owner, lease.sessionId))), result: ending.result, runId: prepared.run.id };
    } finally {
      held.stop();
      // A lease that cannot be released expires on its own; the run's outcome matters more.
      if (!released) await store.releaseLock(owner, lease.sessionId, lease.token).catch(() => undefined);
    }
  }

  return {
    async start(request, runOptions) {
      const { owner, session: newSession, input: _input, idempotencyKey: _key, ...fields } = request;
      checkOwner(owner, fields.principal);
      // Checked before the session exists, so bad input leaves no empty session behind.
      const input = parseInput(request.input);
      const idempotencyKey = parseKey(request.idempotencyKey);
      checkAgent({ id: newSession.id ?? '(new)', agentSlug: newSession.agentSlug }, fields.principal.agentSlug);
      const plan: AttemptPlan = { fields, input, idempotencyKey, seqAtStart: 0, inputStored: true };
      if (idempotencyKey !== undefined) {
        // A keyed start keeps the older set-up: hosts (data-machine's ai step) watch its
        // `beginRun` to tell a replayed run from a new one. See the decision note.
        const retriedId = keyedSessionId(newSession);
        // The session and its input in one step: input the store refuses leaves no empty session.
        await storeCall(() => store.createSession(owner, newSession, { messages: input })).catch((error: unknown) => {
          // A retried start: the first attempt created the session (and stored the input with it).
          if (AgentsApiError.isInstance(error) && error.code === 'transcript.session_exists') return undefined;
          throw error;
        });
        const held = await takeLease(store, owner, retriedId, { ttlMs: lockTtlMs });
        return runHeld(owner, held, (lease) => prepareAttempt(store, owner, lease, plan, runOptions, now));
      }
      // The session with its input, its lease and its run in one step. The open may be lost in
      // a crash until the run's next write, which is durable: see the decision note.
      const opening = await storeCall(() =>
        store.openSession(owner, { session: newSession, messages: input, ttlMs: lockTtlMs, run: { seqAtStart: 0 }, durability: 'with_next_write' }),
      );
      if (!opening.opened) throw sessionLocked(newSession.id ?? '(new)', opening.expiresAt);
      const { session } = opening;
      const held = holdLease(store, owner, session.id, opening.lease, { ttlMs: lockTtlMs });
      // A new session holds just the input.
      const stored = input.map((message, index) => ({ seq: index + 1, message }));
      return runHeld(owner, held, async (lease) => planAttempt(store, owner, lease, plan, { session, stored, begin: opening.run }, runOptions, now));
    },

    async resume(request, runOptions) {
      const { owner, sessionId, approvals, input: _input, idempotencyKey: _key, ...fields } = request;
      if (!store.durable) {
        throw new AgentsApiError('transcript.not_durable', `This transcript store keeps nothing across restarts, so session "${sessionId}" cannot be resumed.`, {
          details: { sessionId },
        });
      }
      checkOwner(owner, fields.principal);
      const input = parseInput(request.input ?? []);
      const idempotencyKey = parseKey(request.idempotencyKey);
      const held = await takeLease(store, owner, sessionId, { ttlMs: lockTtlMs });
      const plan: AttemptPlan = { fields, input, idempotencyKey, approvals, inputStored: false };
      return runHeld(owner, held, (lease) => prepareAttempt(store, owner, lease, plan, runOptions, now));
    },

    stream: createSessionStreams(options),
  };
}

/** Context wins over input: a run acts for its principal's user in its tenant and may only write that user's sessions there. */
export function checkOwner(owner: SessionOwner, principal: Pick<Principal, 'userId' | 'tenantId'>): void {
  const mismatched = [...(owner.userId === principal.userId ? [] : ['userId']), ...(owner.tenantId === principal.tenantId ? [] : ['tenantId'])];
  if (mismatched.length === 0) return;
  throw new AgentsApiError('transcript.invalid_request', `The session's owner must be the principal's user in the principal's tenant (${mismatched.join(' and ')} differ).`, {
    details: { mismatched, ownerUserId: owner.userId, principalUserId: principal.userId, ownerTenantId: owner.tenantId, principalTenantId: principal.tenantId },
  });
}

const inputSchema = z.array(agentMessageSchema);

/** Validates a run's input messages (`transcript.invalid_request`). */
export function parseInput(input: unknown): AgentMessage[] {
  return parseMessageList(input, (value) => parseTranscriptInput(inputSchema, value, 'session input'));
}

/** The session id a keyed start names: a retry finds its run through it, so it is required. */
export function keyedSessionId(session: NewSession): string {
  if (session.id !== undefined) return session.id;
  throw new AgentsApiError('transcript.invalid_request', 'A start with an idempotency key must name its session id: a retry finds the run through it.');
}

export function parseKey(key: unknown): string | undefined {
  return key === undefined ? undefined : parseTranscriptInput(idempotencyKeySchema, key, 'idempotency key');
}
