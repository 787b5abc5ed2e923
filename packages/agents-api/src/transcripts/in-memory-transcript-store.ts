import { randomUUID } from 'node:crypto';
import type { AgentMessage } from '../messages/message';
import {
  defaultNow,
  defaultRunId,
  defaultSessionId,
  duplicateMessage,
  parseAppendToken,
  parseKeepRounds,
  parseListOptions,
  parseLoadOptions,
  parseMessagesToAppend,
  parseNewRun,
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
import type { RunRecord } from './run-record';
import { leaseLost, runNotFound, sessionLocked, sessionNotFound, type SessionOwner, type StoredMessage, type TranscriptSession, type TranscriptStore } from './transcript-store';

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

  return {
    durable: false,

    async createSession(owner, session, createOptions) {
      const { userId, tenantId } = parseOwner(owner);
      const parsed = parseNewSession(session);
      const initial = parseMessagesToAppend(createOptions?.messages ?? []);
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
      sessions.set(id, { session: stored, messages, messageIds: new Set(initial.map((message) => message.id)), lock: undefined, runs: new Map() });
      return copy(stored);
    },

    async getSession(owner, sessionId) {
      const record = find(parseOwner(owner), parseSessionId(sessionId));
      return record && copy(record.session);
    },

    async listSessions(owner, listOptions) {
      const { userId, tenantId } = parseOwner(owner);
      const { agentSlug, limit } = parseListOptions(listOptions);
      return [...sessions.values()]
        .map((record) => record.session)
        .filter((session) => session.userId === userId && session.tenantId === tenantId)
        .filter((session) => agentSlug === undefined || session.agentSlug === agentSlug)
        // Newest first, ties by id: the order of the Postgres store's owner index.
        .sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .slice(0, limit)
        .map(copy);
    },

    async append(owner, sessionId, messages, update, appendOptions) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const parsed = parseMessagesToAppend(messages);
      const changes = parseSessionUpdate(update);
      const token = parseAppendToken(appendOptions);
      const record = requireSession(parsedOwner, id);
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
      const record = requireSession(parsedOwner, id);
      const at = now();
      const existing = parsed.idempotencyKey === undefined ? undefined : [...record.runs.values()].find((stored) => stored.idempotencyKey === parsed.idempotencyKey);
      if (existing) {
        const current = existing.status === 'running' ? { ...existing, attempts: existing.attempts + 1, updatedAt: at } : existing;
        record.runs.set(current.id, current);
        return { created: false, run: copy(current) };
      }
      const created: RunRecord = {
        id: defaultRunId(),
        sessionId: id,
        agentSlug: parsed.agentSlug,
        userId: record.session.userId,
        tenantId: record.session.tenantId,
        idempotencyKey: parsed.idempotencyKey ?? null,
        status: 'running',
        failureCode: null,
        turnUsage: [],
        usage: {},
        used: { turns: 0, tokens: 0, wallClockMs: 0 },
        attempts: 1,
        seqAtStart: parsed.seqAtStart,
        result: null,
        startedAt: at,
        updatedAt: at,
        endedAt: null,
      };
      record.runs.set(created.id, created);
      return { created: true, run: copy(created) };
    },

    async updateRun(owner, sessionId, runId, update) {
      const parsedOwner = parseOwner(owner);
      const id = parseSessionId(sessionId);
      const parsedRunId = parseRunId(runId);
      const changes = parseRunUpdate(update);
      const existing = requireSession(parsedOwner, id).runs.get(parsedRunId);
      if (!existing) throw runNotFound(id, parsedRunId);
      const at = now();
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
      requireSession(parsedOwner, id).runs.set(parsedRunId, updated);
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
  };
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
