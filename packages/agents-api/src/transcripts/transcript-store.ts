import { z } from 'zod';
import { AgentsApiError } from '../errors';
import type { AgentMessage } from '../messages/message';
import { agentSlugSchema } from '../registry/agent-definition';
import type { NewRun, RunBegin, RunRecord, RunUpdate } from './run-record';

/** The longest user or tenant id a session's owner may have. */
export const maxOwnerIdLength = 200;
const ownerIdSchema = z.string().min(1).max(maxOwnerIdLength);

/**
 * Whose a session is. Fixed when the session is created and never changed.
 * Every read and write names the owner; a session of another owner is
 * reported exactly as a session that does not exist. A `null` id matches
 * only `null`: a session with no user is never anybody's to take.
 */
export const sessionOwnerSchema = z.object({
  userId: ownerIdSchema.nullable(),
  tenantId: ownerIdSchema.nullable(),
});
export type SessionOwner = z.infer<typeof sessionOwnerSchema>;

/** A session id: 1 to 128 letters, digits, `_` or `-`. */
export const sessionIdPattern = /^[A-Za-z0-9_-]{1,128}$/;
export const sessionIdSchema = z.string().regex(sessionIdPattern, 'a session id is 1 to 128 letters, digits, "_" or "-"');

/** The longest title a session may have. */
export const maxTitleLength = 500;

/** What {@link TranscriptStore.createSession} takes. */
export const newSessionSchema = z.object({
  /** Chosen by the caller, or generated. */
  id: sessionIdSchema.optional(),
  agentSlug: agentSlugSchema,
  title: z.string().max(maxTitleLength).nullable().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type NewSession = z.input<typeof newSessionSchema>;

/** A stored conversation. */
export interface TranscriptSession {
  readonly id: string;
  readonly agentSlug: string;
  readonly userId: string | null;
  readonly tenantId: string | null;
  readonly title: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The sequence number of the last message appended; 0 before any. */
  readonly lastSeq: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A message as stored: its place in the session and the owner copied onto it. */
export interface StoredMessage {
  readonly sessionId: string;
  /** 1, 2, 3…: contiguous and unique within the session. */
  readonly seq: number;
  readonly userId: string | null;
  readonly tenantId: string | null;
  readonly message: AgentMessage;
}

/** Changes to the session that an append makes in the same transaction. */
export interface SessionUpdate {
  readonly title?: string | null;
  /** Replaces the session's metadata. */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** What an append stored. */
export interface AppendResult {
  readonly session: TranscriptSession;
  /** The sequence numbers given to the messages, in order. */
  readonly seqs: readonly number[];
}

/** A page of a listing: which page comes next is in `nextCursor`. */
export interface PageOptions {
  /** At most this many sessions; default 50, at most 500. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page; omitted, the first page. Opaque: a malformed one is `transcript.invalid_request`. */
  readonly cursor?: string;
}

/** Options of {@link TranscriptStore.listSessions}. */
export interface ListSessionsOptions extends PageOptions {
  /** Only the sessions of this agent. */
  readonly agentSlug?: string;
}

/**
 * One page of sessions, newest `updatedAt` first (ties by id, descending).
 * Walking the pages returns a session at most once, and exactly once when it
 * is not updated during the walk: a session updated meanwhile moves to the
 * front, behind the walk, and a new walk shows it first.
 */
export interface SessionPage {
  readonly sessions: readonly TranscriptSession[];
  /** Pass as `cursor` for the next page; null when there is none. */
  readonly nextCursor: string | null;
}

/** What {@link TranscriptStore.deleteUserData} removed. */
export interface DeletedUserData {
  readonly sessions: number;
  readonly messages: number;
}

/** Options of {@link TranscriptStore.deleteSessionsBefore}. */
export interface DeleteSessionsBeforeOptions {
  /** The tenant whose sessions to delete; null is the sessions of no tenant. */
  readonly tenantId: string | null;
  /** Sessions whose last activity (`updatedAt`) is before this are deleted. */
  readonly before: Date;
  /** At most this many sessions in this batch; default 100, at most 1000. */
  readonly limit?: number;
}

/** Options of {@link TranscriptStore.loadMessages}; without any, every message in order. */
export interface LoadMessagesOptions {
  /** Only messages after this sequence number. */
  readonly afterSeq?: number;
  /** Only the last `last` messages (still returned in order). */
  readonly last?: number;
}

/** Options of {@link TranscriptStore.prune}. */
export interface PruneOptions {
  /**
   * Keep the last this many rounds and delete everything before. A round
   * starts at a user's text message and runs to the next one. A tool call
   * and its result are always kept or removed together: when a late result
   * (an approval, a resume) sits in a kept round, the cut moves back to keep
   * its call too.
   */
  readonly keepRounds: number;
}

/** The outcome of a lock request; contention is an outcome, not an error. */
export type LockAcquisition =
  | { readonly acquired: true; readonly token: string; readonly expiresAt: Date }
  | { readonly acquired: false; readonly reason: 'held'; readonly expiresAt: Date };

/**
 * Fencing for {@link TranscriptStore.append}. With `lockToken`, the append
 * writes only while that token holds the session's lock unexpired, else it
 * throws `transcript.lease_lost` and writes nothing. Without one, it writes
 * only while nobody holds the lock unexpired, else `transcript.session_locked`.
 */
export interface AppendOptions {
  readonly lockToken?: string;
  /**
   * A run's last write (requires `lockToken`): in the same step as the
   * messages, applies `update` to the session's run `runId` and releases the
   * lock. Refused as a whole, like the messages: a lost lease writes neither.
   */
  readonly endRun?: { readonly runId: string; readonly update: RunUpdate };
}

/** What {@link TranscriptStore.createSession} may store with the new session, in the same transaction. */
export interface CreateSessionOptions {
  /** The first messages (sequence numbers 1, 2, …); a refused message leaves no session behind. */
  readonly messages?: readonly AgentMessage[];
}

/** What {@link TranscriptStore.openSession} takes. */
export interface OpenSessionRequest {
  /** The session to create; with `run.idempotencyKey`, an existing session of the owner with this id is opened instead (a retried start). */
  readonly session: NewSession;
  /** Stored with a new session (sequence numbers 1, 2, …); ignored when an existing session is opened. */
  readonly messages?: readonly AgentMessage[];
  /** How long the lease lasts, as for {@link TranscriptStore.acquireLock}. */
  readonly ttlMs: number;
  /** The run to begin, or (by its idempotency key) to find, as {@link TranscriptStore.beginRun} does; the agent is the session's. */
  readonly run: Omit<NewRun, 'agentSlug'>;
  /**
   * `'with_next_write'`: the open may resolve before it is durable (Postgres:
   * an asynchronous commit, no wait for the WAL flush), and becomes durable
   * with the caller's next write to the store, which any run makes before it
   * stores content. A crash before that write loses the open whole (session,
   * input, lease and run), never part of it. For a caller whose every outcome
   * is a later write (a session run); default `'immediate'`. See
   * docs/decisions/2026-11-30-durable-streaming.md, "The open's commit".
   */
  readonly durability?: 'immediate' | 'with_next_write';
}

/**
 * The outcome of {@link TranscriptStore.openSession}: the session leased to
 * the caller with its run, or, for an existing session, the lease someone
 * else holds (contention is an outcome, not an error).
 */
export type SessionOpening =
  | {
      readonly opened: true;
      /** Whether the session was created now (false: an existing session was opened by the run's key). */
      readonly created: boolean;
      readonly session: TranscriptSession;
      readonly lease: { readonly token: string; readonly expiresAt: Date };
      /** As `beginRun` resolves. */
      readonly run: RunBegin;
    }
  | { readonly opened: false; readonly reason: 'held'; readonly expiresAt: Date };

/** Options of {@link TranscriptStore.updateRun}. */
export interface UpdateRunOptions {
  /** Also releases the session's lock if this token still holds it, in the same step (a run's end: its record and its lease at once). */
  readonly releaseLockToken?: string;
}

/** The outcome of a renewal. `lost`: the token is not the lock's current one, or its lease had already expired. */
export type LockRenewal = { readonly renewed: true; readonly expiresAt: Date } | { readonly renewed: false; readonly reason: 'lost' };

/** The outcome of a release. `stale`: the token is not the lock's current one (it expired and was taken, or was released). */
export type LockRelease = { readonly released: true } | { readonly released: false; readonly reason: 'stale' };

/**
 * Where conversations are kept. Every method takes the owner first; a
 * session that does not exist and one that is not the owner's are
 * indistinguishable (`getSession` resolves `undefined`, `deleteSession`
 * `false`, the others throw `transcript.session_not_found`). Invalid input
 * is `transcript.invalid_request`. System prompts are not messages and are
 * never stored.
 */
export interface TranscriptStore {
  /**
   * Whether sessions survive the process. A store that is not durable cannot
   * resume a session by id: the session runner refuses with `transcript.not_durable`.
   */
  readonly durable: boolean;
  /**
   * Creates a session owned by `owner`; `transcript.session_exists` if the id
   * is taken (by anyone). With `options.messages`, stores them too, all or
   * nothing: messages the store refuses leave no session behind.
   */
  createSession(owner: SessionOwner, session: NewSession, options?: CreateSessionOptions): Promise<TranscriptSession>;
  /** The session, or undefined when it does not exist or is not the owner's. */
  getSession(owner: SessionOwner, sessionId: string): Promise<TranscriptSession | undefined>;
  /** One page of the owner's sessions (of one agent, with `agentSlug`), newest first; see {@link SessionPage}. */
  listSessions(owner: SessionOwner, options?: ListSessionsOptions): Promise<SessionPage>;
  /**
   * One page of every session of one agent in one tenant, whatever its user:
   * for an agent's admins, never for a user's own listing. A null `tenantId`
   * lists the sessions of no tenant. Order and cursors as {@link listSessions}.
   */
  listAgentSessions(tenantId: string | null, agentSlug: string, options?: PageOptions): Promise<SessionPage>;
  /**
   * Appends `messages` (in order, with the next sequence numbers) and applies
   * `update` to the session, all or nothing; every message is checked as
   * `parseMessage` checks it (`transcript.invalid_request`). Fenced by the session's lock
   * (see {@link AppendOptions}): the check and the write are one step. A
   * message id already stored in the session is `transcript.duplicate_message`.
   */
  append(owner: SessionOwner, sessionId: string, messages: readonly AgentMessage[], update?: SessionUpdate, options?: AppendOptions): Promise<AppendResult>;
  /** The session's messages in sequence order. */
  loadMessages(owner: SessionOwner, sessionId: string, options?: LoadMessagesOptions): Promise<readonly StoredMessage[]>;
  /** Deletes a session and its messages; resolves to whether there was one. */
  deleteSession(owner: SessionOwner, sessionId: string): Promise<boolean>;
  /**
   * Deletes every session of user `userId` in tenant `tenantId` (null: no
   * tenant), with their messages, including a session being run; resolves to
   * what was removed.
   */
  deleteUserData(tenantId: string | null, userId: string): Promise<DeletedUserData>;
  /**
   * Deletes old sessions, to keep data only so long: up to `limit` sessions
   * of the tenant last updated before `before`, with their messages, oldest
   * first; resolves to how many sessions it deleted. A session whose lock is held (being run) is skipped.
   * Call again until it resolves 0.
   */
  deleteSessionsBefore(options: DeleteSessionsBeforeOptions): Promise<number>;
  /** Deletes whole rounds from the start; resolves to how many messages were removed. */
  prune(owner: SessionOwner, sessionId: string, options: PruneOptions): Promise<number>;
  /** Takes the session's lock for `ttlMs` unless someone holds it unexpired. */
  acquireLock(owner: SessionOwner, sessionId: string, ttlMs: number): Promise<LockAcquisition>;
  /**
   * Extends the lock to `ttlMs` after now if `token` still holds it unexpired;
   * one conditional step, so a lease that lapsed (and may have been taken) is never revived.
   */
  renewLock(owner: SessionOwner, sessionId: string, token: string, ttlMs: number): Promise<LockRenewal>;
  /** Releases the lock if `token` is still its current token. */
  releaseLock(owner: SessionOwner, sessionId: string, token: string): Promise<LockRelease>;
  /**
   * Records a new run of the session, or, when `run.idempotencyKey` names one
   * the session already has, returns that run (`created: false`; a run still
   * `running` counts one more attempt). Deleted with its session.
   */
  beginRun(owner: SessionOwner, sessionId: string, run: NewRun): Promise<RunBegin>;
  /**
   * Creates a session with its first messages, takes its lease and begins its
   * run, all or nothing and in one step (one statement on Postgres): what
   * `createSession`, `acquireLock` and `beginRun` do in three. A taken id is
   * `transcript.session_exists`, unless `run.idempotencyKey` is given and the
   * session is the owner's: then it is leased (or found held) and the run is
   * found by its key, or begun. Nothing is written when the lease is not taken.
   */
  openSession(owner: SessionOwner, request: OpenSessionRequest): Promise<SessionOpening>;
  /**
   * Applies `update` to the session's run; `transcript.run_not_found` if it
   * has none with that id. With `options.releaseLockToken`, releases the
   * session's lock in the same step when that token still holds it (a stale
   * token releases nothing; the run is updated either way).
   */
  updateRun(owner: SessionOwner, sessionId: string, runId: string, update: RunUpdate, options?: UpdateRunOptions): Promise<RunRecord>;
  /** The session's run, or undefined. */
  getRun(owner: SessionOwner, sessionId: string, runId: string): Promise<RunRecord | undefined>;
}

/** The error for a session that does not exist or is not the owner's; the message never says which. */
export function sessionNotFound(sessionId: string): AgentsApiError {
  return new AgentsApiError('transcript.session_not_found', `There is no session "${sessionId}".`, { details: { sessionId } });
}

/** The error for a write whose lease has expired or was taken: nothing was written. */
export function leaseLost(sessionId: string): AgentsApiError {
  return new AgentsApiError('transcript.lease_lost', `The lease on session "${sessionId}" was lost (expired or taken by another run); nothing was written.`, {
    details: { sessionId },
  });
}

/** The error for an unfenced write while another run holds the session. */
export function sessionLocked(sessionId: string, expiresAt: Date): AgentsApiError {
  return new AgentsApiError('transcript.session_locked', `Session "${sessionId}" is in use by another run until ${expiresAt.toISOString()}.`, {
    details: { sessionId, expiresAt: expiresAt.toISOString() },
  });
}

/** The error for a run the session does not have. */
export function runNotFound(sessionId: string, runId: string): AgentsApiError {
  return new AgentsApiError('transcript.run_not_found', `Session "${sessionId}" has no run "${runId}".`, { details: { sessionId, runId } });
}

/** Validates input for a store; throws `transcript.invalid_request` naming the problems. */
export function parseTranscriptInput<Schema extends z.ZodType>(schema: Schema, value: unknown, what: string): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new AgentsApiError('transcript.invalid_request', `Invalid ${what}: ${z.prettifyError(parsed.error)}`, {
    details: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) },
  });
}

/** The rounds rule of {@link TranscriptStore.prune} before late results are considered: the index of the first round to keep. */
export function firstKeptIndex(messages: readonly Pick<AgentMessage, 'type' | 'role'>[], keepRounds: number): number {
  const roundStarts: number[] = [];
  messages.forEach((message, index) => {
    if (message.type === 'text' && message.role === 'user') roundStarts.push(index);
  });
  if (keepRounds === 0) return messages.length;
  if (keepRounds >= roundStarts.length) return 0;
  return roundStarts[roundStarts.length - keepRounds] ?? 0;
}
