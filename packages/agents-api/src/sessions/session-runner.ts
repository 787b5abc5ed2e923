import { AgentsApiError } from '../errors';
import type { RunOptions } from '../runner/conversation-runner';
import { defaultLeaseTtlMs, holdLease, storeCall, takeLease, withLeaseOutcome, type HeldLease, type SessionLease } from './session-lease';
import { checkAgent, currentSession, planAttempt, prepareAttempt, type AttemptPlan, type EndedAttempt, type ReadyAttempt } from './session-attempt';
import { endRunWithAnswer, holdingLastAnswer } from './session-last-write';
import { exhaustedResult } from './session-run-record';
import { sessionLocked, type SessionOwner } from '../transcripts/transcript-store';
import { createSessionStreams, type SessionStreams } from './session-stream';
import {
  checkOwner,
  parseInput,
  parseKey,
  keyedSessionId,
  type ResumeSessionRequest,
  type SessionRunnerOptions,
  type SessionRunResult,
  type StartSessionRequest,
} from './session-request';

/** Runs conversations whose transcript lives in a `TranscriptStore`. */
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
