import type { AgentMessage } from '../messages/message';
import type { BudgetName, ConversationRequest, RunOptions, TranscriptPersister } from '../runner/conversation-runner';
import type { RunBegin, RunRecord } from '../transcripts/run-record';
import { AgentsApiError } from '../errors';
import { sessionNotFound, type SessionOwner, type TranscriptSession, type TranscriptStore } from '../transcripts/transcript-store';
import { createFencedPersister, storeCall, type SessionLease } from './session-lease';
import { inputAlreadyStored, recordingProgress, remainingLimits, storedResult } from './session-run-record';
import type { RunFields, SessionRunResult } from './session-request';

/** What one attempt of a session run is asked to do. */
export interface AttemptPlan {
  readonly fields: RunFields;
  readonly input: readonly AgentMessage[];
  readonly idempotencyKey: string | undefined;
  readonly approvals?: ConversationRequest['approvals'];
  /** Where the run's messages start; default the session's last sequence number. */
  readonly seqAtStart?: number;
  /** Whether the input is stored already (`start` stores it with the session). */
  readonly inputStored: boolean;
}

/** An attempt ready to run: the request, the fenced persister and the options to run it with. */
export interface ReadyAttempt {
  readonly status: 'ready';
  readonly sessionId: string;
  /** The session as it was when the attempt began. */
  readonly session: TranscriptSession;
  readonly run: RunRecord;
  readonly request: ConversationRequest;
  /** Appends fenced by the lease, recording what the run spends as it goes. */
  readonly persister: TranscriptPersister;
  /** The caller's signal joined with the lease's. */
  readonly runOptions: RunOptions;
  /** The budget already spent by earlier attempts, if any: end with it, do not run. */
  readonly exhausted: BudgetName | undefined;
  readonly startedAt: number;
}

/** An attempt of a run that already ended: its stored outcome. */
export interface EndedAttempt {
  readonly status: 'ended';
  readonly outcome: SessionRunResult;
}

/**
 * The first half of a session run's attempt, under `lease`: checks the
 * agent, finds or begins the run record (by idempotency key), and for a run
 * still to do, stores the input unless an earlier attempt did and builds the
 * request with what is left of the budgets. Run it, then end it with
 * `endRunWithAnswer` (`session-last-write.ts`).
 */
export async function prepareAttempt(
  store: TranscriptStore,
  owner: SessionOwner,
  lease: SessionLease,
  plan: AttemptPlan,
  runOptions: RunOptions | undefined,
  now: () => number,
): Promise<EndedAttempt | ReadyAttempt> {
  const { sessionId } = lease;
  const session = await storeCall(() => currentSession(store, owner, sessionId));
  checkAgent(session, plan.fields.principal.agentSlug);
  const stored = await storeCall(() => store.loadMessages(owner, sessionId));
  const begin = await storeCall(() =>
    store.beginRun(owner, sessionId, { agentSlug: session.agentSlug, idempotencyKey: plan.idempotencyKey, seqAtStart: plan.seqAtStart ?? session.lastSeq }),
  );
  return planAttempt(store, owner, lease, plan, { session, stored, begin }, runOptions, now);
}

/** What an attempt found under its lease: the session, its stored messages and its run (found by key or begun). */
export interface AttemptStart {
  readonly session: TranscriptSession;
  readonly stored: readonly { readonly seq: number; readonly message: AgentMessage }[];
  readonly begin: RunBegin;
}

/**
 * {@link prepareAttempt} once the session, its messages and its run are
 * known (read under the lease, or returned by `openSession` with the lease).
 */
export async function planAttempt(
  store: TranscriptStore,
  owner: SessionOwner,
  lease: SessionLease,
  plan: AttemptPlan,
  { session, stored, begin }: AttemptStart,
  runOptions: RunOptions | undefined,
  now: () => number,
): Promise<EndedAttempt | ReadyAttempt> {
  const { sessionId } = lease;
  const { run } = begin;
  if (run.status !== 'running') return { status: 'ended', outcome: { session, result: storedResult(run), runId: run.id } };
  const inputStored = plan.inputStored || (!begin.created && inputAlreadyStored(stored, run, plan.input));
  if (!inputStored && plan.input.length > 0) {
    await storeCall(() => store.append(owner, sessionId, plan.input, undefined, { lockToken: lease.token }));
  }
  const messages = stored.map((entry) => entry.message);
  if (!inputStored) messages.push(...plan.input);
  const approvals = openApprovals(plan.approvals, messages);
  const budget = remainingLimits(plan.fields.limits, run.used);
  const startedAt = now();
  const signal = runOptions?.signal ? AbortSignal.any([runOptions.signal, lease.signal]) : lease.signal;
  return {
    status: 'ready',
    sessionId,
    session,
    run,
    request: { ...plan.fields, limits: 'limits' in budget ? budget.limits : plan.fields.limits, messages, ...(approvals ? { approvals } : {}) },
    // Only a keyed run can be continued by a later attempt, so only its progress is worth a write per step.
    persister: plan.idempotencyKey === undefined ? createFencedPersister(store, owner, lease) : recordingProgress(createFencedPersister(store, owner, lease), store, owner, run, startedAt, now),
    runOptions: { signal },
    exhausted: 'exhausted' in budget ? budget.exhausted : undefined,
    startedAt,
  };
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
export function checkAgent(session: Pick<TranscriptSession, 'id' | 'agentSlug'>, agentSlug: string): void {
  if (session.agentSlug === agentSlug) return;
  throw new AgentsApiError('transcript.invalid_request', `Session "${session.id}" belongs to agent "${session.agentSlug}", not "${agentSlug}".`, {
    details: { sessionId: session.id, sessionAgent: session.agentSlug, principalAgent: agentSlug },
  });
}

/** The session, or `transcript.session_not_found`. */
export async function currentSession(store: TranscriptStore, owner: SessionOwner, sessionId: string): Promise<TranscriptSession> {
  const session = await store.getSession(owner, sessionId);
  if (!session) throw sessionNotFound(sessionId);
  return session;
}

