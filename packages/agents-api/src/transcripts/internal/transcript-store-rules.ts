import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AgentsApiError } from '../../errors';
import { agentMessageSchema, type AgentMessage } from '../../messages/message';
import { parseMessageList } from '../../messages/well-formed-message';
import { agentSlugPattern, agentSlugSchema } from '../../registry/agent-definition';
import {
  firstKeptIndex,
  maxOwnerIdLength,
  maxTitleLength,
  newSessionSchema,
  sessionIdPattern,
  parseTranscriptInput,
  sessionIdSchema,
  sessionOwnerSchema,
  type SessionOwner,
  type TranscriptSession,
} from '../transcript-store';
import { checkStorable } from './storable-input';
import { newRunSchema, runUpdateSchema, type RunRecord } from '../run-record';

// What every transcript store checks and decides the same way, so the
// in-memory and Postgres stores cannot drift apart. Not part of the public API.

const metadataSchema = z.record(z.string(), z.unknown());
const sessionUpdateSchema = z.object({ title: z.string().max(500).nullable().optional(), metadata: metadataSchema.optional() });
const pageOptionsSchema = z.object({ limit: z.int().min(1).max(500).default(50), cursor: z.string().optional() });
const listSessionsOptionsSchema = pageOptionsSchema.extend({ agentSlug: agentSlugSchema.optional() });
const tenantIdSchema = sessionOwnerSchema.shape.tenantId;
const userIdSchema = sessionOwnerSchema.shape.userId.unwrap();
const deleteSessionsBeforeSchema = z.object({
  tenantId: tenantIdSchema,
  before: z.date().refine((date) => !Number.isNaN(date.getTime()), { message: 'before must be a valid date' }),
  limit: z.int().min(1).max(1000).default(100),
});
// What a cursor holds: the last session of the page, by its place in the order.
const cursorSchema = z.tuple([z.int().min(-8_640_000_000_000_000).max(8_640_000_000_000_000), sessionIdSchema]);
const loadMessagesOptionsSchema = z.object({ afterSeq: z.int().min(0).optional(), last: z.int().min(0).optional() });
const pruneOptionsSchema = z.object({ keepRounds: z.int().min(0) });
const ttlSchema = z.int().min(1);
const tokenSchema = z.string().min(1).max(200);

export type ParsedNewSession = z.infer<typeof newSessionSchema>;
export type ParsedSessionUpdate = z.infer<typeof sessionUpdateSchema>;
/** Where a page starts: after this session in the (`updatedAt` desc, id desc) order. */
export interface SessionCursor {
  readonly updatedAt: Date;
  readonly id: string;
}
export interface ParsedPageOptions {
  readonly limit: number;
  readonly after: SessionCursor | undefined;
}
export interface ParsedListOptions extends ParsedPageOptions {
  readonly agentSlug: string | undefined;
}
export type ParsedDeleteSessionsBefore = z.infer<typeof deleteSessionsBeforeSchema>;
export type ParsedLoadOptions = z.infer<typeof loadMessagesOptionsSchema>;

export const defaultNow = (): Date => new Date();

/**
 * A random UUID's 32 hex digits, without its hyphens. Cut out by position: a
 * stream's start draws one before its model request, where `replaceAll` cost
 * about 8 µs more with cold caches (15 against 7 µs; 1.0 against 0.8 µs hot).
 */
function compactUuid(): string {
  const uuid = randomUUID();
  return uuid.slice(0, 8) + uuid.slice(9, 13) + uuid.slice(14, 18) + uuid.slice(19, 23) + uuid.slice(24);
}

export function defaultSessionId(): string {
  return `ses_${compactUuid()}`;
}

/**
 * Checks a store call's owner. A well-formed owner (each id null, or a string
 * of 1 to 200 characters without U+0000) is read by hand into a fresh object,
 * exactly what the schema and `checkStorable` give back for it; anything else
 * goes to the schema, which explains the refusal. Every store call checks its
 * owner: cold, on the way to a stream's first delta, the schema's parse and the
 * storable walk cost 20 to 40 µs, the hand check about nothing (see
 * docs/decisions/2026-11-30-durable-streaming.md, "2026-12-02, stop 26").
 */
export function parseOwner(owner: unknown): SessionOwner {
  return wellFormedOwner(owner) ?? checkStorable(parseTranscriptInput(sessionOwnerSchema, owner, 'session owner'), 'owner');
}

function wellFormedOwner(owner: unknown): SessionOwner | undefined {
  if (typeof owner !== 'object' || owner === null || Array.isArray(owner)) return undefined;
  const { userId, tenantId } = owner as { readonly userId?: unknown; readonly tenantId?: unknown };
  return isOwnerId(userId) && isOwnerId(tenantId) ? { userId, tenantId } : undefined;
}

function isOwnerId(id: unknown): id is string | null {
  return id === null || (typeof id === 'string' && id.length >= 1 && id.length <= maxOwnerIdLength && !id.includes('\u0000'));
}

export function parseSessionId(sessionId: unknown): string {
  return parseTranscriptInput(sessionIdSchema, sessionId, 'session id');
}

/** Checks a new session; one without metadata that is well formed is read by hand, as {@link parseOwner} reads an owner. */
export function parseNewSession(session: unknown): ParsedNewSession {
  return wellFormedNewSession(session) ?? checkStorable(parseTranscriptInput(newSessionSchema, session, 'new session'), 'session');
}

/** The new session as the schema and `checkStorable` give it back, when it has no metadata and nothing to refuse; else undefined. */
function wellFormedNewSession(session: unknown): ParsedNewSession | undefined {
  if (typeof session !== 'object' || session === null || Array.isArray(session)) return undefined;
  const { id, agentSlug, title, metadata } = session as { readonly [Key in keyof ParsedNewSession]?: unknown };
  if (metadata !== undefined || typeof agentSlug !== 'string' || !agentSlugPattern.test(agentSlug)) return undefined;
  if (id !== undefined && (typeof id !== 'string' || !sessionIdPattern.test(id))) return undefined;
  if (title !== undefined && title !== null && (typeof title !== 'string' || title.length > maxTitleLength || title.includes('\u0000'))) return undefined;
  const parsed: ParsedNewSession = { agentSlug };
  if (id !== undefined) parsed.id = id;
  if (title !== undefined) parsed.title = title;
  return parsed;
}

export function parseSessionUpdate(update: unknown): ParsedSessionUpdate {
  return checkStorable(parseTranscriptInput(sessionUpdateSchema, update ?? {}, 'session update'), 'update');
}

export function parseListOptions(options: unknown): ParsedListOptions {
  const { agentSlug, limit, cursor } = parseTranscriptInput(listSessionsOptionsSchema, options ?? {}, 'list options');
  return { agentSlug, limit, after: cursor === undefined ? undefined : decodeSessionCursor(cursor) };
}

export function parsePageOptions(options: unknown): ParsedPageOptions {
  const { limit, cursor } = parseTranscriptInput(pageOptionsSchema, options ?? {}, 'page options');
  return { limit, after: cursor === undefined ? undefined : decodeSessionCursor(cursor) };
}

export function parseTenantId(tenantId: unknown): string | null {
  return parseTranscriptInput(tenantIdSchema, tenantId, 'tenant id');
}

/** A user id for deleting a user's data: a user, never null (sessions of no user are nobody's data). */
export function parseUserId(userId: unknown): string {
  return parseTranscriptInput(userIdSchema, userId, 'user id');
}

export function parseAgentSlug(agentSlug: unknown): string {
  return parseTranscriptInput(agentSlugSchema, agentSlug, 'agent slug');
}

export function parseDeleteSessionsBefore(options: unknown): ParsedDeleteSessionsBefore {
  return parseTranscriptInput(deleteSessionsBeforeSchema, options, 'delete sessions before options');
}

/** The cursor of the page after the one ending with `last`: base64url of JSON, opaque to callers. */
export function encodeSessionCursor(last: Pick<TranscriptSession, 'updatedAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([last.updatedAt.getTime(), last.id]), 'utf8').toString('base64url');
}

/**
 * Reads a cursor made by {@link encodeSessionCursor}; anything else (edited,
 * truncated, from another system) is `transcript.invalid_request`, never a
 * silently different page.
 */
export function decodeSessionCursor(cursor: string): SessionCursor {
  const invalid = (cause?: unknown) =>
    new AgentsApiError('transcript.invalid_request', 'Invalid list cursor: pass the nextCursor of the previous page unchanged.', { details: { cursor }, cause });
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (error) {
    throw invalid(error);
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success) throw invalid();
  const [time, id] = parsed.data;
  const after = { updatedAt: new Date(time), id };
  // Base64 decoding skips stray characters; only the canonical form is accepted.
  if (encodeSessionCursor(after) !== cursor) throw invalid();
  return after;
}

/** The page of `sorted` (already in listing order, after the cursor) and the cursor of the next one. */
export function pageOf(sorted: readonly TranscriptSession[], limit: number): { sessions: TranscriptSession[]; nextCursor: string | null } {
  const sessions = sorted.slice(0, limit);
  const last = sessions[sessions.length - 1];
  return { sessions, nextCursor: sorted.length > limit && last ? encodeSessionCursor(last) : null };
}

export function parseLoadOptions(options: unknown): ParsedLoadOptions {
  return parseTranscriptInput(loadMessagesOptionsSchema, options ?? {}, 'load options');
}

export function parseKeepRounds(options: unknown): number {
  return parseTranscriptInput(pruneOptionsSchema, options, 'prune options').keepRounds;
}

export function parseTtl(ttlMs: unknown): number {
  return parseTranscriptInput(ttlSchema, ttlMs, 'lock ttl (a positive whole number of milliseconds)');
}

export function parseToken(token: unknown): string {
  return parseTranscriptInput(tokenSchema, token, 'lock token');
}

/** The append's lock token, if any; checked like any token. */
export function parseAppendToken(options: unknown): string | undefined {
  const token = (options as { lockToken?: unknown } | undefined)?.lockToken;
  return token === undefined ? undefined : parseToken(token);
}

/** What an append's `endRun` asks for, checked: the run, its update, and the fence it needs. */
export function parseAppendEnding(options: unknown): { readonly runId: string; readonly update: z.infer<typeof runUpdateSchema> } | undefined {
  const parsed = parseTranscriptInput(appendEndingSchema, options ?? {}, 'append options');
  if (parsed.endRun === undefined) return undefined;
  if (parsed.lockToken === undefined) throw new AgentsApiError('transcript.invalid_request', 'An append that ends a run must be fenced by its lockToken.');
  return { runId: parseRunId(parsed.endRun.runId), update: parseRunUpdate(parsed.endRun.update) };
}
const appendEndingSchema = z.object({ lockToken: z.unknown().optional(), endRun: z.object({ runId: z.unknown(), update: z.unknown() }).optional() });

// Made once: a zod schema made per call does its set-up work again on every append.
const messagesSchema = z.array(agentMessageSchema);

/** Validates the whole batch before anything is written, so a bad message stores nothing. */
export function parseMessagesToAppend(messages: unknown): AgentMessage[] {
  return checkStorable(
    parseMessageList(messages, (value) => parseTranscriptInput(messagesSchema, value, 'messages')),
    'messages',
  );
}

/** The error for a message id the session already holds (or the batch holds twice). */
export function duplicateMessage(sessionId: string, messageId: string): AgentsApiError {
  return new AgentsApiError('transcript.duplicate_message', `Session "${sessionId}" already holds a message "${messageId}"; nothing was written.`, {
    details: { sessionId, messageId },
  });
}

/** A message id the batch holds twice, if any. */
export function repeatedMessageId(messages: readonly AgentMessage[]): string | undefined {
  const seen = new Set<string>();
  for (const message of messages) {
    if (seen.has(message.id)) return message.id;
    seen.add(message.id);
  }
  return undefined;
}

export type ParsedNewRun = z.infer<typeof newRunSchema>;

export function parseNewRun(run: unknown): ParsedNewRun {
  return parseTranscriptInput(newRunSchema, run, 'new run');
}

const openSessionEnvelopeSchema = z.object({
  session: z.unknown(),
  messages: z.unknown().optional(),
  ttlMs: z.unknown(),
  run: z.unknown(),
  durability: z.enum(['immediate', 'with_next_write']).default('immediate'),
});
const openedRunSchema = newRunSchema.omit({ agentSlug: true });

/** An `openSession` request, checked whole before anything is written. */
export interface ParsedOpenSession {
  readonly session: ParsedNewSession;
  readonly messages: readonly AgentMessage[];
  readonly ttlMs: number;
  readonly run: z.infer<typeof openedRunSchema>;
  readonly durability: 'immediate' | 'with_next_write';
}

/**
 * Open requests checked whole already, by {@link checkedOpenSession}: the
 * session layer checks its request before `start` resolves (a refusal must
 * reject `start`), and this package's stores then take it as it is rather
 * than walking the same session and messages again on the way to the
 * database. A WeakSet, so only this module can vouch for a request, and a
 * request no one holds any more is forgotten with it.
 */
const checkedOpens = new WeakSet<object>();

/**
 * An open request made of parts each checked already (the session by
 * {@link parseOpenedSession}, the messages by `parseInput` and
 * `checkStorable`, the lease time by {@link parseTtl}), vouched for so that
 * {@link parseOpenSession} does not check it again. The caller makes it and
 * hands it to no one but the store: it must not change once vouched for.
 */
export function checkedOpenSession(request: ParsedOpenSession): ParsedOpenSession {
  checkedOpens.add(request);
  return request;
}

/** Checks an `openSession` request: the session, its messages (no id twice), the lease time and the run. */
export function parseOpenSession(request: unknown): ParsedOpenSession {
  if (typeof request === 'object' && request !== null && checkedOpens.has(request)) return request as ParsedOpenSession;
  const envelope = parseTranscriptInput(openSessionEnvelopeSchema, request, 'open session request');
  const messages = parseMessagesToAppend(envelope.messages ?? []);
  const session = parseOpenedSession(envelope.session, messages);
  return { session, messages, ttlMs: parseTtl(envelope.ttlMs), run: parseTranscriptInput(openedRunSchema, envelope.run, 'run'), durability: envelope.durability };
}

/** The session of an open, with its messages (checked already as messages are): no message id twice. */
export function parseOpenedSession(session: unknown, messages: readonly AgentMessage[]): ParsedNewSession {
  const parsed = parseNewSession(session);
  const repeated = repeatedMessageId(messages);
  if (repeated !== undefined) throw duplicateMessage(parsed.id ?? '(new)', repeated);
  return parsed;
}

/** The lock token `updateRun` is to release, if any; checked like any token. */
export function parseReleaseToken(options: unknown): string | undefined {
  const token = parseTranscriptInput(updateRunOptionsSchema, options ?? {}, 'update run options').releaseLockToken;
  return token === undefined ? undefined : parseToken(token);
}
const updateRunOptionsSchema = z.object({ releaseLockToken: z.unknown().optional() });

export type ParsedRunUpdate = z.infer<typeof runUpdateSchema>;

export function parseRunUpdate(update: unknown): ParsedRunUpdate {
  return parseTranscriptInput(runUpdateSchema, update, 'run update');
}

export function parseRunId(runId: unknown): string {
  return parseTranscriptInput(sessionIdSchema, runId, 'run id');
}

/**
 * A run as a store begins it: `running`, nothing spent, one attempt (the
 * defaults of the `agents_runs` columns, migration 0002).
 */
export function newRunRecord(run: Pick<RunRecord, 'id' | 'sessionId' | 'agentSlug' | 'userId' | 'tenantId' | 'idempotencyKey' | 'seqAtStart'> & { readonly at: Date }): RunRecord {
  return {
    id: run.id,
    sessionId: run.sessionId,
    agentSlug: run.agentSlug,
    userId: run.userId,
    tenantId: run.tenantId,
    idempotencyKey: run.idempotencyKey,
    status: 'running',
    failureCode: null,
    turnUsage: [],
    usage: {},
    used: { turns: 0, tokens: 0, wallClockMs: 0 },
    attempts: 1,
    seqAtStart: run.seqAtStart,
    result: null,
    startedAt: new Date(run.at.getTime()),
    updatedAt: new Date(run.at.getTime()),
    endedAt: null,
  };
}

export function defaultRunId(): string {
  return `run_${compactUuid()}`;
}

export function sessionExists(sessionId: string): AgentsApiError {
  return new AgentsApiError('transcript.session_exists', `A session "${sessionId}" already exists.`, { details: { sessionId } });
}

/** The owner's ids as the `user_key` / `tenant_key` columns hold them. */
export function ownerKeys(owner: SessionOwner): { readonly userKey: string; readonly tenantKey: string } {
  return { userKey: owner.userId ?? '', tenantKey: owner.tenantId ?? '' };
}

/** The inverse of {@link ownerKeys}: '' is never a valid id, so it can stand for null. */
export function ownerIdFromKey(key: string): string | null {
  return key === '' ? null : key;
}

/**
 * How many messages from the start `prune` removes. Starts from
 * `firstKeptIndex`, then moves the cut back while a kept tool result's call
 * would be removed: a late result (an approved call, a resumed one) is
 * stored after the user's next message, so its call sits in an earlier
 * round, and a result without its call is rejected by chat APIs.
 */
export function prunedCount(messages: readonly AgentMessage[], keepRounds: number): number {
  const callIndex = new Map<string, number>();
  messages.forEach((message, index) => {
    if (message.type === 'tool_call') for (const call of message.payload.toolCalls) callIndex.set(call.id, index);
  });
  let cut = firstKeptIndex(messages, keepRounds);
  for (let index = cut; index < messages.length; index += 1) {
    const message = messages[index];
    if (message?.type !== 'tool_result') continue;
    const callAt = callIndex.get(message.payload.toolCallId);
    if (callAt === undefined || callAt >= cut) continue;
    // Restart the scan: the earlier round may hold late results of its own.
    cut = roundStartAtOrBefore(messages, callAt);
    index = cut - 1;
  }
  return cut;
}

function roundStartAtOrBefore(messages: readonly AgentMessage[], index: number): number {
  for (let candidate = index; candidate >= 0; candidate -= 1) {
    const message = messages[candidate];
    if (message?.type === 'text' && message.role === 'user') return candidate;
  }
  return 0;
}
