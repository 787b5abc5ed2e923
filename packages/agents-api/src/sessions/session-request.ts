import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { agentMessageSchema, type AgentMessage } from '../messages/message';
import { parseMessageList } from '../messages/well-formed-message';
import type { Principal } from '../permissions/principal';
import type { ConversationRequest, ConversationResult, ConversationRunner, TranscriptPersister } from '../runner/conversation-runner';
import { idempotencyKeySchema } from '../transcripts/run-record';
import { parseTranscriptInput, type NewSession, type SessionOwner, type TranscriptSession, type TranscriptStore } from '../transcripts/transcript-store';

// What a session run is made of and asked with, and the checks of a request shared by
// `run()` (session-runner.ts) and `stream` (session-stream.ts).

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

/** Context wins over input: a run acts for its principal's user in its tenant and may only write that user's sessions there. */
export function checkOwner(owner: SessionOwner, principal: Pick<Principal, 'userId' | 'tenantId'>): void {
  if (owner.userId === principal.userId && owner.tenantId === principal.tenantId) return;
  const mismatched = [...(owner.userId === principal.userId ? [] : ['userId']), ...(owner.tenantId === principal.tenantId ? [] : ['tenantId'])];
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

/** Validates an idempotency key (`transcript.invalid_request`); undefined when none was given. */
export function parseKey(key: unknown): string | undefined {
  return key === undefined ? undefined : parseTranscriptInput(idempotencyKeySchema, key, 'idempotency key');
}
