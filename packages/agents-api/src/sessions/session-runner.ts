import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { agentMessageSchema, type AgentMessage } from '../messages/message';
import type { ConversationRequest, ConversationResult, ConversationRunner, RunOptions, TranscriptPersister } from '../runner/conversation-runner';
import { createFencedPersister, defaultLeaseTtlMs, storeCall, withLeaseOutcome, withSessionLease, type SessionLease } from './session-lease';
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
}

/** The conversation fields a session run passes through to the runner. */
type RunFields = Omit<ConversationRequest, 'messages' | 'approvals'>;

/** A new session and its first input. */
export interface StartSessionRequest extends RunFields {
  /** Must name the principal's user: a run never writes into another user's session. */
  readonly owner: SessionOwner;
  readonly session: NewSession;
  readonly input: readonly AgentMessage[];
}

/** A stored session to continue, with new input, decisions on held calls, or neither (to finish an interrupted step). */
export interface ResumeSessionRequest extends RunFields {
  readonly owner: SessionOwner;
  readonly sessionId: string;
  readonly input?: readonly AgentMessage[];
  readonly approvals?: ConversationRequest['approvals'];
}

/** A session run's outcome: the session as it now is, and the run's result. */
export interface SessionRunResult {
  readonly session: TranscriptSession;
  readonly result: ConversationResult;
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

  async function runLeased(
    owner: SessionOwner,
    sessionId: string,
    runOptions: RunOptions | undefined,
    run: (runner: ConversationRunner, runOptions: RunOptions, lease: SessionLease) => Promise<ConversationResult>,
  ): Promise<SessionRunResult> {
    return withSessionLease(store, owner, sessionId, { ttlMs: lockTtlMs }, async (lease) => {
      const signal = runOptions?.signal ? AbortSignal.any([runOptions.signal, lease.signal]) : lease.signal;
      const runner = options.createRunner(createFencedPersister(store, owner, lease));
      const result = withLeaseOutcome(await run(runner, { signal }, lease), lease);
      return { session: await storeCall(() => currentSession(store, owner, sessionId)), result };
    });
  }

  return {
    async start(request, runOptions) {
      const { owner, session: newSession, input: _input, ...fields } = request;
      checkOwner(owner, fields.principal.userId);
      // Checked before the session exists, so bad input leaves no empty session behind.
      const input = parseInput(request.input);
      checkAgent({ id: newSession.id ?? '(new)', agentSlug: newSession.agentSlug }, fields.principal.agentSlug);
      // The session and its input in one step: input the store refuses leaves no empty session.
      const session = await storeCall(() => store.createSession(owner, newSession, { messages: input }));
      return runLeased(owner, session.id, runOptions, (runner, leasedOptions) => runner.run({ ...fields, messages: input }, leasedOptions));
    },

    async resume(request, runOptions) {
      const { owner, sessionId, approvals, input: _input, ...fields } = request;
      if (!store.durable) {
        throw new AgentsApiError('transcript.not_durable', `This transcript store keeps nothing across restarts, so session "${sessionId}" cannot be resumed.`, {
          details: { sessionId },
        });
      }
      checkOwner(owner, fields.principal.userId);
      const input = parseInput(request.input ?? []);
      return runLeased(owner, sessionId, runOptions, async (runner, leasedOptions, lease) => {
        checkAgent(await storeCall(() => currentSession(store, owner, sessionId)), fields.principal.agentSlug);
        const stored = await storeCall(() => store.loadMessages(owner, sessionId));
        if (input.length > 0) await storeCall(() => store.append(owner, sessionId, input, undefined, { lockToken: lease.token }));
        const messages = [...stored.map((entry) => entry.message), ...input];
        return runner.run({ ...fields, messages, ...(approvals ? { approvals } : {}) }, leasedOptions);
      });
    },
  };
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
