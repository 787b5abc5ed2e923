import { randomUUID } from 'node:crypto';
import { wrapStoreErrors } from '../database/wrap-store-errors';
import type { AgentMessage } from '../messages/message';
import {
  defaultNow,
  defaultRunId,
  newRunRecord,
  defaultSessionId,
  pageOf,
  parseAgentSlug,
  parseDeleteSessionsBefore,
  duplicateMessage,
  parseAppendToken,
  parseKeepRounds,
  parseListOptions,
  parsePageOptions,
  parseTenantId,
  parseUserId,
  type SessionCursor,
  parseLoadOptions,
  parseMessagesToAppend,
  parseNewRun,
  parseOpenSession,
  parseAppendEnding,
  type ParsedRunUpdate,
  parseReleaseToken,
  type ParsedNewRun,
  type ParsedNewSession,
  parseNewSession,
  parseOwner,
  parseRunId,
  parseRunUpdate,
  parseSessionId,
  parseSessionUpdate,
  parseToken,
  parseTtl,
  prunedCount,
  repeatedMessageId,
  sessionExists,
} from './internal/transcript-store-rules';
import type { RunBegin, RunRecord } from './run-record';
import { leaseLost, runNotFound, sessionLocked, sessionNotFound, type SessionOwner, type SessionPage, type StoredMessage, type TranscriptSession, type TranscriptStore } from './transcript-store';

/** Options of {@link createInMemoryTranscriptStore}. */
export interface InMemoryTranscriptStoreOptions {
  /** The clock for timestamps and lock expiry; default `() => new Date()`. */
  readonly now?: () => Date;
  /** Ids for sessions created without one; default `ses_` and a random UUID. */
  readonly generateId?: () => string;
}

interface SessionRecord {
  session: TranscriptSession;
  messages: StoredMessage[];
  /** The ids of the stored messages, for the (session, message id) uniqueness a database index gives. */
  messageIds: Set<string>;
  lock: { readonly token: string; readonly expiresAt: Date } | undefined;
  runs: Map<string, RunRecord>;
}

/**
 * A {@link TranscriptStore} in process memory, for tests and one-shot runs.
 * Not durable: everything is gone when the process ends, so the session
 * runner will not resume its sessions by id.
 *
 * @example
 * const store = createInMemoryTranscriptStore();
 * const session = await store.createSession({ userId: 'u1', tenantId: null }, { agentSlug: 'helper' });
 * await store.append({ userId: 'u1', tenantId: null }, session.id, [createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} })]);
 */
export function createInMemoryTranscriptStore(options: InMemoryTranscriptStoreOptions = {}): TranscriptStore {
  const now = options.now ?? defaultNow;
  const generateId = options.generateId ?? defaultSessionId;
  const sessions = new Map<string, SessionRecord>();

  // Another owner's session is treated exactly as a missing one; null ids match only null.
  function find(owner: SessionOwner, sessionId: string): SessionRecord | undefined {
    const record = sessions.get(sessionId);
    if (!record || record.session.userId !== owner.userId || record.session.tenantId !== owner.tenantId) return undefined;
    return record;
  }

  function requireSession(owner: SessionOwner, sessionId: string): SessionRecord {
    const record = find(owner, sessionId);
    if (!record) throw sessionNotFound(sessionId);
    return record;
  }

  // Newest first, ties by id descending: the order of the Postgres store's indexes.
  function page(matches: (session: TranscriptSession) => boolean, limit: number, after: SessionCursor | undefined): SessionPage {
    const sorted = [...sessions.values()]
      .map((record) => record.session)
      .filter((session) => matches(session) && (after === undefined || isAfter(session, after)))
      .sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || compareIds(b.id, a.id));
    const { sessions: selected, nextCursor } = pageOf(sorted, limit);
    return { sessions: selected.map(copy), nextCursor };
  }

  /** Stores a new session with its first messages; `transcript.session_exists` if the id is taken (by anyone). */
  function insertSession(owner: SessionOwner, parsed: ParsedNewSession, initial: readonly AgentMessage[]): SessionRecord {
    const { userId, tenantId } = owner;
    const id = parsed.id ?? generateId();
    if (sessions.has(id)) throw sessionExists(id);
    const repeated = repeatedMessageId(initial);
    if (repeated !== undefined) throw duplicateMessage(id, repeated);
    const createdAt = now();
    const stored: TranscriptSession = {
      id,
      agentSlug: parsed.agentSlug,
      userId,
      tenantId,
      title: parsed.title ?? null,
      metadata: asJson(parsed.metadata ?? {}),
      lastSeq: initial.length,
      createdAt,
      updatedAt: createdAt,
    };
    const messages = initial.map((message, index): StoredMessage => ({ sessionId: id, seq: index + 1, userId, tenantId, message: asJson(message) }));
    const record: SessionRecord = { session: stored, messages, messageIds: new Set(initial.map((message) => message.id)), lock: undefined, runs: new Map() };
    sessions.set(id, record);
    return record;
  }

  /** Applies a checked update to the session's run (`transcript.run_not_found` if it has none with that id). */
  function applyRunUpdate(record: SessionRecord, runId: string, changes: ParsedRunUpdate, at: Date): RunRecord {
    const existing = record.runs.get(runId);
    if (!existing) throw runNotFound(record.session.id, runId);
    const updated: RunRecord = {
      ...existing,
      status: changes.status ?? existing.status,
      failureCode: changes.failureCode !== undefined ? changes.failureCode : existing.failureCode,
      turnUsage: changes.turnUsage !== undefined ? asJson(changes.turnUsage) : existing.turnUsage,
      usage: changes.usage !== undefined ? asJson(changes.usage) : existing.usage,
      used: changes.used ?? existing.used,
      result: changes.result !== undefined ? asJson(changes.result) : existing.result,
      updatedAt: at,
      endedAt: changes.ended ? at : existing.endedAt,
    };
    record.runs.set(runId, updated);
    return updated;
  }

  /** `beginRun` on a found session: the run with the key (one more attempt while it runs), or a new one. */
  function beginRunOn(record: SessionRecord, parsed: ParsedNewRun): RunBegin {
    const at = now();
    const existing = parsed.idempotencyKey === undefined ? undefined : [...record.runs.values()].find((stored) => stored.idempotencyKey === parsed.idempotencyKey);
    if (existing) {
      const current = existing.status === 'running' ? { ...existing, attempts: existing.attempts + 1, updatedAt: at } : existing;
      record.runs.set(current.id, current);
      return { created: false, run: copy(current) };
    }
    const created = newRunRecord({
      id: defaultRunId(),
      sessionId: record.session.id,
      agentSlug: parsed.agentSlug,
      userId: record.session.userId,
      tenantId: record.session.tenantId,
      idempotencyKey: parsed.idempotencyKey ?? null,
      seqAtStart: parsed.seqAtStart,
      at,
    });
    record.runs.set(created.id, created);
    return { created: true, run: copy(created) };
  }

  // Driver errors (and any other surprise) become `transcript.store_failed`.
  return wrapStoreErrors({
    durable: false,

    async createSession(owner, session, createOptions) {
      const parsed = parseNewSession(session);
      const initial = parseMessagesToAppend(createOptions?.messages ?? []);
      return copy(insertSession(parseOwner(owner), parsed, initial).session);
    },

    async openSession(owner, request) {
      const parsedOwner = parseOwner(owner);
      const { session, messages, ttlMs, run } = parseOpenSession(request);
      const existing = session.id === undefined ? undefined : sessions.get(session.id);
      // Another owner's session, or one opened without a key (not a retry): the id is taken.
      if (existing && (run.idempotencyKey === undefined || !find(parsedOwner, existing.session.id))) throw sessionExists(existing.session.id);
      const at = now();
      if (existing?.lock && existing.lock.expiresAt.getTime() > at.getTime()) return { opened: false, reason: 'held', expiresAt: new Date(existing.lock.expiresAt) };
      const record = existing ?? insertSession(parsedOwner, session, messages);
      record.lock = { token: randomUUID(), expiresAt: new Date(at.getTime() + ttlMs) };
      return {
        opened: true,
        created: existing === undefined,
        session: copy(record.session),
        lease: { token: record.lock.token, expiresAt: new Date(record.lock.expiresAt) },
        run: beginRunOn(record, { agentSlug: record.session.agentSlug, ...run }),
      };
    },

    async getSession(owner, sessionId) {
      const record = find(parseOwner(owner), parseSessionId(sessionId));
      return record && copy(record.session);
    },

    async listSessions(owner, listOptions) {
      const { userId, tenantId } = parseOwner(owner);
      const { agentSlug, limit, after } = parseListOptions(listOptions);
      return page(
        (session) => session.userId === userId && session.tenantId === tenantId && (agentSlug === undefined || session.agentSlug === agentSlug),
        limit,
        after,
      );
    },

    async listAgentSessions(tenantId, agentSlug, pageOptions) {
      const tenant = parseTenantId(tenantId);
      const slug = parseAgentSlug(agentSlug);
      const { limit, after } = parsePageOptions(pageOptions);
      return page((session) => session.tenantId === tenant && session.agentSlug === slug, limit, after);
    },

    async append(owner, sessionId, messages, update, appendOptions) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const parsed = parseMessagesToAppend(messages);
      const changes = parseSessionUpdate(update);
      const token = parseAppendToken(appendOptions);
      const ending = parseAppendEnding(appendOptions);
      const record = requireSession(parsedOwner, id);
      if (ending && !record.runs.has(ending.runId)) throw runNotFound(id, ending.runId);
      // No await from here on: the fence check, the read of lastSeq and the writes are one step.
      const at = now();
      const held = record.lock && record.lock.expiresAt.getTime() > at.getTime() ? record.lock : undefined;
      if (token !== undefined && held?.token !== token) throw leaseLost(id);
      if (token === undefined && held) throw sessionLocked(id, new Date(held.expiresAt));
      const repeated = repeatedMessageId(parsed) ?? parsed.find((message) => record.messageIds.has(message.id))?.id;
      if (repeated !== undefined) throw duplicateMessage(id, repeated);
      const first = record.session.lastSeq + 1;
      const stored = parsed.map((message, index): StoredMessage => ({
        sessionId: id,
        seq: first + index,
        userId: record.session.userId,
        tenantId: record.session.tenantId,
        message: asJson(message),
      }));
      record.messages.push(...stored);
      for (const message of parsed) record.messageIds.add(message.id);
      record.session = {
        ...record.session,
        ...(changes.title !== undefined ? { title: changes.title } : {}),
        ...(changes.metadata !== undefined ? { metadata: asJson(changes.metadata) } : {}),
        lastSeq: record.session.lastSeq + stored.length,
        updatedAt: at,
      };
      if (ending) {
        applyRunUpdate(record, ending.runId, ending.update, at);
        record.lock = undefined;
      }
      return { session: copy(record.session), seqs: stored.map((message) => message.seq) };
    },

    async loadMessages(owner, sessionId, loadOptions) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const { afterSeq, last } = parseLoadOptions(loadOptions);
      const after = requireSession(parsedOwner, id).messages.filter((message) => afterSeq === undefined || message.seq > afterSeq);
      const selected = last === undefined ? after : after.slice(Math.max(0, after.length - last));
      return selected.map(copy);
    },

    async deleteSession(owner, sessionId) {
      const id = parseSessionId(sessionId);
      if (!find(parseOwner(owner), id)) return false;
      return sessions.delete(id);
    },

    async deleteUserData(tenantId, userId) {
      const tenant = parseTenantId(tenantId);
      const user = parseUserId(userId);
      let deletedSessions = 0;
      let deletedMessages = 0;
      for (const [id, record] of sessions) {
        if (record.session.tenantId !== tenant || record.session.userId !== user) continue;
        sessions.delete(id);
        deletedSessions += 1;
        deletedMessages += record.messages.length;
      }
      return { sessions: deletedSessions, messages: deletedMessages };
    },

    async deleteSessionsBefore(retention) {
      const { tenantId, before, limit } = parseDeleteSessionsBefore(retention);
      const at = now().getTime();
      const doomed = [...sessions.values()]
        .filter(({ session, lock }) => session.tenantId === tenantId && session.updatedAt.getTime() < before.getTime() && !(lock && lock.expiresAt.getTime() > at))
        // Oldest first, as the Postgres store's retention index walks them.
        .sort((a, b) => a.session.updatedAt.getTime() - b.session.updatedAt.getTime() || compareIds(a.session.id, b.session.id))
        .slice(0, limit);
      for (const record of doomed) sessions.delete(record.session.id);
      return doomed.length;
    },

    async prune(owner, sessionId, pruneOptions) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const keepRounds = parseKeepRounds(pruneOptions);
      const record = requireSession(parsedOwner, id);
      const count = prunedCount(
        record.messages.map((stored): AgentMessage => stored.message),
        keepRounds,
      );
      for (const removed of record.messages.splice(0, count)) record.messageIds.delete(removed.message.id);
      return count;
    },

    async acquireLock(owner, sessionId, ttlMs) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const ttl = parseTtl(ttlMs);
      const record = requireSession(parsedOwner, id);
      const at = now();
      if (record.lock && record.lock.expiresAt.getTime() > at.getTime()) {
        return { acquired: false, reason: 'held', expiresAt: new Date(record.lock.expiresAt) };
      }
      const lock = { token: randomUUID(), expiresAt: new Date(at.getTime() + ttl) };
      record.lock = lock;
      return { acquired: true, token: lock.token, expiresAt: new Date(lock.expiresAt) };
    },

    async renewLock(owner, sessionId, token, ttlMs) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const parsedToken = parseToken(token);
      const ttl = parseTtl(ttlMs);
      const record = requireSession(parsedOwner, id);
      const at = now();
      if (record.lock?.token !== parsedToken || record.lock.expiresAt.getTime() <= at.getTime()) return { renewed: false, reason: 'lost' };
      record.lock = { token: parsedToken, expiresAt: new Date(at.getTime() + ttl) };
      return { renewed: true, expiresAt: new Date(record.lock.expiresAt) };
    },

    async beginRun(owner, sessionId, run) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const parsed = parseNewRun(run);
      return beginRunOn(requireSession(parsedOwner, id), parsed);
    },

    async updateRun(owner, sessionId, runId, update, updateOptions) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const parsedRunId = parseRunId(runId);
      const changes = parseRunUpdate(update);
      const releaseToken = parseReleaseToken(updateOptions);
      const record = requireSession(parsedOwner, id);
      const updated = applyRunUpdate(record, parsedRunId, changes, now());
      if (releaseToken !== undefined && record.lock?.token === releaseToken) record.lock = undefined;
      return copy(updated);
    },

    async getRun(owner, sessionId, runId) {
      const run = find(parseOwner(owner), parseSessionId(sessionId))?.runs.get(parseRunId(runId));
      return run && copy(run);
    },

    async releaseLock(owner, sessionId, token) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const parsedToken = parseToken(token);
      const record = requireSession(parsedOwner, id);
      if (record.lock?.token !== parsedToken) return { released: false, reason: 'stale' };
      record.lock = undefined;
      return { released: true };
    },
  }, 'transcript.store_failed', 'in-memory transcript store');
}

// Bytewise, as the Postgres store orders ids (`collate "C"`): session ids are ASCII.
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether `session` comes after the cursor in the (updatedAt desc, id desc) order. */
function isAfter(session: TranscriptSession, cursor: SessionCursor): boolean {
  const time = session.updatedAt.getTime();
  const cursorTime = cursor.updatedAt.getTime();
  return time < cursorTime || (time === cursorTime && compareIds(session.id, cursor.id) < 0);
}

/**
 * Stores what a durable store would read back (JSON), so code tested on
 * this store meets no surprise on Postgres, and keeps no reference the
 * caller could mutate afterwards.
 */
function asJson<Value>(value: Value): Value {
  return JSON.parse(JSON.stringify(value)) as Value;
}

/** Hands out a copy: a caller mutating it must not change what is stored. */
function copy<Value>(value: Value): Value {
  return structuredClone(value);
}
