import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { agentMessageSchema, type AgentMessage } from '../messages/message';
import type { ConversationRequest, ConversationResult, ConversationRunner, RunOptions, TranscriptPersister } from '../runner/conversation-runner';
import {
  parseTranscriptInput,
  sessionNotFound,
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
   * How long a run holds the session's lock; default 10 minutes. Keep it
   * above the run's wall-clock budget: a run that outlives it can be joined
   * by a second writer.
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
  /** The same runs, streamed: every event as it happens, with an SSE id; see {@link SessionStreams}. */
  readonly stream: SessionStreams;
}

const defaultLockTtlMs = 10 * 60 * 1000;

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
  const lockTtlMs = options.lockTtlMs ?? defaultLockTtlMs;
  if (!Number.isInteger(lockTtlMs) || lockTtlMs < 1) {
    throw new AgentsApiError('transcript.invalid_request', `lockTtlMs must be a positive whole number (got ${String(lockTtlMs)})`);
  }
  const { store } = options;

  async function runLocked(owner: SessionOwner, sessionId: string, run: () => Promise<ConversationResult>): Promise<SessionRunResult> {
    const lock = await storeCall(() => store.acquireLock(owner, sessionId, lockTtlMs));
    if (!lock.acquired) {
      throw new AgentsApiError('transcript.session_locked', `Session "${sessionId}" is in use by another run until ${lock.expiresAt.toISOString()}.`, {
        details: { sessionId, expiresAt: lock.expiresAt.toISOString() },
      });
    }
    try {
      const result = await run();
      return { session: await storeCall(() => currentSession(store, owner, sessionId)), result };
    } finally {
      // A lease that cannot be released expires on its own; the run's outcome matters more.
      await store.releaseLock(owner, sessionId, lock.token).catch(() => undefined);
    }
  }

  function runnerFor(owner: SessionOwner, sessionId: string): ConversationRunner {
    return options.createRunner({
      persist: async (messages) => {
        await store.append(owner, sessionId, messages);
      },
    });
  }

  return {
    async start(request, runOptions) {
      const { owner, session: newSession, input: _input, ...fields } = request;
      checkOwner(owner, fields.principal.userId);
      // Checked before the session exists, so bad input leaves no empty session behind.
      const input = parseInput(request.input);
      checkAgent({ id: newSession.id ?? '(new)', agentSlug: newSession.agentSlug }, fields.principal.agentSlug);
      const session = await storeCall(() => store.createSession(owner, newSession));
      return runLocked(owner, session.id, async () => {
        await storeCall(() => store.append(owner, session.id, input));
        return runnerFor(owner, session.id).run({ ...fields, messages: input }, runOptions);
      });
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
      return runLocked(owner, sessionId, async () => {
        checkAgent(await storeCall(() => currentSession(store, owner, sessionId)), fields.principal.agentSlug);
        const stored = await storeCall(() => store.loadMessages(owner, sessionId));
        if (input.length > 0) await storeCall(() => store.append(owner, sessionId, input));
        const messages = [...stored.map((entry) => entry.message), ...input];
        return runnerFor(owner, sessionId).run({ ...fields, messages, ...(approvals ? { approvals } : {}) }, runOptions);
      });
    },

    stream: createSessionStreams(options),
  };
}

/** A session belongs to one agent: a run as another agent would speak in its name. */
export function checkAgent(session: Pick<TranscriptSession, 'id' | 'agentSlug'>, agentSlug: string): void {
  if (session.agentSlug === agentSlug) return;
  throw new AgentsApiError('transcript.invalid_request', `Session "${session.id}" belongs to agent "${session.agentSlug}", not "${agentSlug}".`, {
    details: { sessionId: session.id, sessionAgent: session.agentSlug, principalAgent: agentSlug },
  });
}

/**
 * Typed errors from the store pass through; anything else (a lost
 * connection, a bug in a third-party store) becomes `transcript.store_failed`.
 */
export async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (AgentsApiError.isInstance(error)) throw error;
    throw new AgentsApiError('transcript.store_failed', `The transcript store failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** Context wins over input: a run acts for its principal's user and may only write that user's sessions. */
export function checkOwner(owner: SessionOwner, principalUserId: string | null): void {
  if (owner.userId === principalUserId) return;
  throw new AgentsApiError('transcript.invalid_request', "The session's owner must be the principal's user.", {
    details: { ownerUserId: owner.userId, principalUserId },
  });
}

/** The session, or `transcript.session_not_found`. */
export async function currentSession(store: TranscriptStore, owner: SessionOwner, sessionId: string): Promise<TranscriptSession> {
  const session = await store.getSession(owner, sessionId);
  if (!session) throw sessionNotFound(sessionId);
  return session;
}

const inputSchema = z.array(agentMessageSchema);

/** Validates a run's input messages (`transcript.invalid_request`). */
export function parseInput(input: unknown): AgentMessage[] {
  return parseTranscriptInput(inputSchema, input, 'session input');
}
