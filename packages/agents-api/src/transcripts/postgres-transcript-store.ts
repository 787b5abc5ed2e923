import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql, type Kysely, type RawBuilder, type Selectable, type SelectQueryBuilder, type SqlBool, type Transaction } from 'kysely';
import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { agentsApiTables, type AgentsApiDatabase, type RunTable, type SessionMessageTable, type SessionTable } from '../database/agents-api-database';
import { wrapStoreErrors } from '../database/wrap-store-errors';
import { parseMessage, type AgentMessage } from '../messages/message';
import {
  defaultNow,
  defaultRunId,
  newRunRecord,
  defaultSessionId,
  duplicateMessage,
  ownerIdFromKey,
  ownerKeys,
  pageOf,
  parseAgentSlug,
  parseDeleteSessionsBefore,
  parseKeepRounds,
  parseAppendToken,
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
  type ParsedSessionUpdate,
  parseReleaseToken,
  parseNewSession,
  type ParsedNewSession,
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
import type { RunRecord, RunStatus } from './run-record';
import { leaseLost, runNotFound, sessionLocked, sessionNotFound, type SessionPage, type StoredMessage, type TranscriptSession, type TranscriptStore } from './transcript-store';

/**
 * The store's two hot statements, each always sent with this exact text: a
 * session's open and an append (a run's last write included). Fixed texts, so a
 * pool may send them as named statements, parsed once per connection (see
 * `withNamedStatements`); their columns are listed rather than `*`, so a prepared
 * statement's result keeps its shape if a later migration adds a column to a
 * function's result.
 */
export const transcriptStoreCalls = {
  openSession:
    'select session_created, run_created, reopened from agents_open_session($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13, $14)',
  append:
    'select id, agent_slug, user_key, tenant_key, title, metadata, last_seq, created_at, updated_at ' +
    'from agents_append_messages($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9::jsonb, $10, $11::jsonb)',
} as const;

/** Options of {@link createPostgresTranscriptStore}. */
export interface PostgresTranscriptStoreOptions<Database extends AgentsApiDatabase> {
  /** A database migrated with `migrateAgentsApi`. */
  readonly db: Kysely<Database>;
  /** The clock for timestamps and lock expiry (never SQL `now()`); default `() => new Date()`. */
  readonly now?: () => Date;
  /** Ids for sessions created without one; default `ses_` and a random UUID. */
  readonly generateId?: () => string;
}

type Db = Kysely<AgentsApiDatabase> | Transaction<AgentsApiDatabase>;
type Keys = ReturnType<typeof ownerKeys>;

const sessionColumns = ['id', 'agent_slug', 'user_key', 'tenant_key', 'title', 'metadata', 'last_seq', 'created_at', 'updated_at'] as const;
type SessionRow = Pick<Selectable<SessionTable>, (typeof sessionColumns)[number]>;
const messageColumns = ['session_id', 'seq', 'user_key', 'tenant_key', 'body'] as const;
/**
 * What `agents_open_session` returns: whether it created the session (then the
 * rows hold what was sent, and nothing more comes back) or, for a keyed open of
 * an existing session, both rows as JSON (timestamps as ISO strings).
 */
type OpenedRow = {
  readonly session_created: boolean;
  readonly run_created: boolean;
  readonly reopened: { readonly session: JsonRow<Selectable<SessionTable>>; readonly run: JsonRow<Selectable<RunTable>> } | null;
};
/** A row as `to_jsonb` gives it: its timestamps as strings. */
type JsonRow<Row> = { readonly [Column in keyof Row]: Row[Column] extends Date ? string : Row[Column] extends Date | null ? string | null : Row[Column] };
type MessageRow = Pick<Selectable<SessionMessageTable>, (typeof messageColumns)[number]>;

const metadataSchema = z.record(z.string(), z.unknown());

/**
 * A durable {@link TranscriptStore} on Postgres (or PGlite), in the
 * `agents_sessions` and `agents_session_messages` tables. Every statement
 * filters by the owner's keys; sequence numbers come from the session row's
 * `last_seq` counter, so parallel appenders from any number of processes
 * get contiguous, unique numbers.
 *
 * @example
 * await migrateAgentsApi(db);
 * const store = createPostgresTranscriptStore({ db });
 * const owner = { userId: 'u1', tenantId: 't1' };
 * const session = await store.createSession(owner, { agentSlug: 'helper' });
 * await store.append(owner, session.id, [createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} })]);
 */
export function createPostgresTranscriptStore<Database extends AgentsApiDatabase>(options: PostgresTranscriptStoreOptions<Database>): TranscriptStore {
  const db = agentsApiTables(options.db);
  const now = options.now ?? defaultNow;
  const generateId = options.generateId ?? defaultSessionId;

  // Driver errors (and any other surprise) become `transcript.store_failed`.
  return wrapStoreErrors({
    durable: true,

    async createSession(owner, session, createOptions) {
      const keys = ownerKeys(parseOwner(owner));
      const parsed = parseNewSession(session);
      const initial = parseMessagesToAppend(createOptions?.messages ?? []);
      const id = parsed.id ?? generateId();
      const repeated = repeatedMessageId(initial);
      if (repeated !== undefined) throw duplicateMessage(id, repeated);
      const createdAt = now();
      if (initial.length === 0) return insertSession(db);
      // The session and its first messages in one transaction: input the database
      // refuses rolls the session back too, so no empty session is left behind.
      return db.transaction().execute(async (trx) => {
        const created = await insertSession(trx);
        await trx
          .insertInto('agents_session_messages')
          .values(
            initial.map((message, index) => ({
              session_id: id,
              seq: index + 1,
              message_id: message.id,
              user_key: keys.userKey,
              tenant_key: keys.tenantKey,
              type: message.type,
              role: message.role,
              body: JSON.stringify(message),
              created_at: createdAt,
            })),
          )
          .execute();
        return created;
      });

      async function insertSession(into: Db): Promise<TranscriptSession> {
      // ON CONFLICT DO NOTHING: a taken id (by anyone) returns no row and changes nothing.
      const row = await into
        .insertInto('agents_sessions')
        .values({
          id,
          agent_slug: parsed.agentSlug,
          user_key: keys.userKey,
          tenant_key: keys.tenantKey,
          title: parsed.title ?? null,
          metadata: JSON.stringify(parsed.metadata ?? {}),
          last_seq: initial.length,
          created_at: createdAt,
          updated_at: createdAt,
        })
        .onConflict((conflict) => conflict.column('id').doNothing())
        .returning(sessionColumns)
        .executeTakeFirst();
      if (!row) throw sessionExists(id);
      return toSession(row);
      }
    },

    async openSession(owner, request) {
      const keys = ownerKeys(parseOwner(owner));
      const { session, messages, ttlMs, run, durability } = parseOpenSession(request);
      const id = session.id ?? generateId();
      const idempotencyKey = run.idempotencyKey ?? null;
      // Only a keyed open (a retried start) may open a session that exists already.
      const keyed = idempotencyKey !== null;
      const runId = defaultRunId();
      for (let attempt = 0; attempt < 10; attempt += 1) {
        const at = now();
        const token = randomUUID();
        const expiresAt = new Date(at.getTime() + ttlMs);
        // One statement, one round trip, planned once per connection: see `openCall`.
        const result = await db.executeQuery(openCall(keys, id, session, messages, at, token, expiresAt, idempotencyKey, runId, run.seqAtStart, durability));
        const row = result.rows[0];
        if (row) {
          const { session: opened, run: begun } =
            row.reopened === null
              ? createdByOpen(keys, id, session, messages.length, at, { runId, idempotencyKey, seqAtStart: run.seqAtStart })
              : { session: toSession(fromJsonRow(row.reopened.session)), run: toRun(fromJsonRow(row.reopened.run)) };
          return {
            opened: true,
            created: row.session_created,
            session: opened,
            lease: { token, expiresAt },
            run: row.run_created ? { created: true, run: begun } : { created: false, run: begun },
          };
        }
        // Nothing was written; say why. The owner's session, held: contention, an outcome.
        const current = await readLock(db, keys, id);
        if (current?.lock_token != null && current.lock_expires_at !== null && current.lock_expires_at.getTime() > at.getTime()) {
          return { opened: false, reason: 'held', expiresAt: current.lock_expires_at };
        }
        // Someone else's, or the owner's opened without a key: the id is taken.
        if ((current && !keyed) || (!current && (await sessionIdTaken(db, id)))) throw sessionExists(id);
        // Released, or a concurrent create rolled back, between the two statements: try again.
      }
      throw new AgentsApiError('transcript.store_failed', `Session "${id}" could not be opened: it changed hands on every try.`, { details: { sessionId: id } });
    },

    async getSession(owner, sessionId) {
      const row = await selectSession(db, ownerKeys(parseOwner(owner)), parseSessionId(sessionId));
      return row && toSession(row);
    },

    async listSessions(owner, listOptions) {
      const keys = ownerKeys(parseOwner(owner));
      const { agentSlug, limit, after } = parseListOptions(listOptions);
      // Served by agents_sessions_owner_idx (tenant_key, user_key, updated_at desc, id desc).
      let query = db
        .selectFrom('agents_sessions')
        .select(sessionColumns)
        .where('user_key', '=', keys.userKey)
        .where('tenant_key', '=', keys.tenantKey);
      if (agentSlug !== undefined) query = query.where('agent_slug', '=', agentSlug);
      return selectPage(query, limit, after);
    },

    async listAgentSessions(tenantId, agentSlug, pageOptions) {
      const tenantKey = ownerKeys({ userId: null, tenantId: parseTenantId(tenantId) }).tenantKey;
      const slug = parseAgentSlug(agentSlug);
      const { limit, after } = parsePageOptions(pageOptions);
      // Served by agents_sessions_agent_idx (tenant_key, agent_slug, updated_at desc, id desc).
      const query = db.selectFrom('agents_sessions').select(sessionColumns).where('tenant_key', '=', tenantKey).where('agent_slug', '=', slug);
      return selectPage(query, limit, after);
    },

    async append(owner, sessionId, messages, update, appendOptions) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      const parsed = parseMessagesToAppend(messages);
      const changes = parseSessionUpdate(update);
      const token = parseAppendToken(appendOptions);
      const ending = parseAppendEnding(appendOptions);
      const repeated = repeatedMessageId(parsed);
      if (repeated !== undefined) throw duplicateMessage(id, repeated);
      const at = now();
      const result = await db
        .executeQuery(appendCall(keys, id, parsed, changes, token, ending, at))
        .catch((error: unknown) => {
          // The (session_id, message_id) unique index: the whole statement rolled back.
          if (isUniqueViolation(error)) throw duplicateMessage(id, messageIdOf(error) ?? '(unknown)');
          throw error;
        });
      const row = result.rows[0];
      // Nothing was written; the reads below only say why.
      if (!row) throw await refusedAppend(db, keys, id, token, at, ending?.runId);
      const first = row.last_seq - parsed.length + 1;
      return { session: toSession(row), seqs: parsed.map((_, index) => first + index) };
    },

    async loadMessages(owner, sessionId, loadOptions) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      const { afterSeq, last } = parseLoadOptions(loadOptions);
      if (!(await selectSession(db, keys, id))) throw sessionNotFound(id);
      let query = db
        .selectFrom('agents_session_messages')
        .select(messageColumns)
        .where('session_id', '=', id)
        .where(ofOwner(keys));
      if (afterSeq !== undefined) query = query.where('seq', '>', afterSeq);
      if (last === undefined) return (await query.orderBy('seq', 'asc').execute()).map(toStoredMessage);
      // The last N walk the (session_id, seq) primary key backwards, however long the session.
      const rows = await query.orderBy('seq', 'desc').limit(last).execute();
      return rows.reverse().map(toStoredMessage);
    },

    async deleteSession(owner, sessionId) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      // Messages go with it: their foreign key cascades.
      const result = await db
        .deleteFrom('agents_sessions')
        .where('id', '=', id)
        .where(ofOwner(keys))
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async deleteUserData(tenantId, userId) {
      const keys = ownerKeys({ userId: parseUserId(userId), tenantId: parseTenantId(tenantId) });
      return db.transaction().execute(async (trx) => {
        // FOR UPDATE holds appenders to these sessions off, so the count of
        // messages is the count of what goes. Served by agents_sessions_owner_idx.
        const mine = (query: Db) =>
          query.selectFrom('agents_sessions').select('id').where('tenant_key', '=', keys.tenantKey).where('user_key', '=', keys.userKey);
        await mine(trx).forUpdate().execute();
        const messages = await trx
          .deleteFrom('agents_session_messages')
          .where('session_id', 'in', mine(trx))
          .executeTakeFirst();
        const sessions = await trx
          .deleteFrom('agents_sessions')
          .where('tenant_key', '=', keys.tenantKey)
          .where('user_key', '=', keys.userKey)
          .executeTakeFirst();
        return { sessions: Number(sessions.numDeletedRows), messages: Number(messages.numDeletedRows) };
      });
    },

    async deleteSessionsBefore(retention) {
      const { tenantId, before, limit } = parseDeleteSessionsBefore(retention);
      const { tenantKey } = ownerKeys({ userId: null, tenantId });
      const at = now();
      // One statement: the batch is picked (oldest first, served by
      // agents_sessions_retention_idx) and deleted with its messages (the
      // foreign key cascades). A held lock is a running session: skipped, as is
      // a row another transaction is changing right now (SKIP LOCKED), so an
      // acquireLock racing this either wins and keeps its session or finds none.
      const result = await db
        .with('doomed', (query) =>
          query
            .selectFrom('agents_sessions')
            .select('id')
            .where('tenant_key', '=', tenantKey)
            .where('updated_at', '<', before)
            .where((eb) => eb.or([eb('lock_token', 'is', null), eb('lock_expires_at', 'is', null), eb('lock_expires_at', '<=', at)]))
            .orderBy('updated_at', 'asc')
            .orderBy('id', 'asc')
            .limit(limit)
            .forUpdate()
            .skipLocked(),
        )
        .deleteFrom('agents_sessions')
        .where('id', 'in', (eb) => eb.selectFrom('doomed').select('id'))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async prune(owner, sessionId, pruneOptions) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      const keepRounds = parseKeepRounds(pruneOptions);
      return db.transaction().execute(async (trx) => {
        // FOR UPDATE holds appenders off while the rounds are counted and cut.
        if (!(await selectSession(trx, keys, id, { forUpdate: true }))) throw sessionNotFound(id);
        // Bodies, not just type and role: a late tool result's call id decides where the cut may go.
        const rows = await trx.selectFrom('agents_session_messages').select(['seq', 'body']).where('session_id', '=', id).orderBy('seq', 'asc').execute();
        const count = prunedCount(
          rows.map((row): AgentMessage => parseMessage(row.body)),
          keepRounds,
        );
        const lastRemoved = rows[count - 1];
        if (!lastRemoved) return 0;
        const result = await trx.deleteFrom('agents_session_messages').where('session_id', '=', id).where('seq', '<=', lastRemoved.seq).executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },

    async acquireLock(owner, sessionId, ttlMs) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      const ttl = parseTtl(ttlMs);
      const at = now();
      const expiresAt = new Date(at.getTime() + ttl);
      const token = randomUUID();
      for (;;) {
        // One conditional statement: two callers can never both take a free lock.
        const taken = await db
          .updateTable('agents_sessions')
          .set({ lock_token: token, lock_expires_at: expiresAt })
          .where('id', '=', id)
          .where(ofOwner(keys))
          .where((eb) => eb.or([eb('lock_token', 'is', null), eb('lock_expires_at', 'is', null), eb('lock_expires_at', '<=', at)]))
          .returning('id')
          .executeTakeFirst();
        if (taken) return { acquired: true, token, expiresAt };
        const current = await readLock(db, keys, id);
        if (!current) throw sessionNotFound(id);
        if (current.lock_token !== null && current.lock_expires_at !== null && current.lock_expires_at.getTime() > at.getTime()) {
          return { acquired: false, reason: 'held', expiresAt: current.lock_expires_at };
        }
        // Released between the two statements: the lock is free, try again.
      }
    },

    async renewLock(owner, sessionId, token, ttlMs) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      const parsedToken = parseToken(token);
      const ttl = parseTtl(ttlMs);
      const at = now();
      const expiresAt = new Date(at.getTime() + ttl);
      // One conditional statement: only the current, unexpired token extends the lease.
      const renewed = await db
        .updateTable('agents_sessions')
        .set({ lock_expires_at: expiresAt })
        .where('id', '=', id)
        .where(ofOwner(keys))
        .where('lock_token', '=', parsedToken)
        .where('lock_expires_at', '>', at)
        .returning('id')
        .executeTakeFirst();
      if (renewed) return { renewed: true, expiresAt };
      if (!(await selectSession(db, keys, id))) throw sessionNotFound(id);
      return { renewed: false, reason: 'lost' };
    },

    async beginRun(owner, sessionId, run) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      const parsed = parseNewRun(run);
      const at = now();
      if (!(await selectSession(db, keys, id))) throw sessionNotFound(id);
      if (parsed.idempotencyKey !== undefined) {
        // One more attempt of a run still going; an ended run is returned as it is.
        const existing = await db
          .updateTable('agents_runs')
          .set((eb) => ({ attempts: sql<number>`case when status = 'running' then ${eb.ref('attempts')} + 1 else ${eb.ref('attempts')} end`, updated_at: at }))
          .where('session_id', '=', id)
          .where('idempotency_key', '=', parsed.idempotencyKey)
          .returningAll()
          .executeTakeFirst();
        if (existing) return { created: false, run: toRun(existing) };
      }
      // The caller holds the session's lease, so no second run with this key races this insert;
      // the unique index still refuses one if a caller without a lease does.
      const row = await db
        .insertInto('agents_runs')
        .values({
          id: defaultRunId(),
          session_id: id,
          agent_slug: parsed.agentSlug,
          user_key: keys.userKey,
          tenant_key: keys.tenantKey,
          idempotency_key: parsed.idempotencyKey ?? null,
          status: 'running',
          turn_usage: '[]',
          usage: '{}',
          seq_at_start: parsed.seqAtStart,
          started_at: at,
          updated_at: at,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { created: true, run: toRun(row) };
    },

    async updateRun(owner, sessionId, runId, update, updateOptions) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      const parsedRunId = parseRunId(runId);
      const changes = parseRunUpdate(update);
      const releaseToken = parseReleaseToken(updateOptions) ?? null;
      const at = now();
      // The lock's release rides along in the same statement (a run's end costs one round
      // trip); without a token the release matches nothing.
      const row = await db
        .with('released', (query) =>
          query
            .updateTable('agents_sessions')
            .set({ lock_token: null, lock_expires_at: null })
            .where('id', '=', id)
            .where(ofOwner(keys))
            .where(sql<boolean>`${releaseToken}::text is not null and lock_token = ${releaseToken}`)
            .returning('id'),
        )
        .updateTable('agents_runs')
        .set({
          updated_at: at,
          ...(changes.status !== undefined ? { status: changes.status } : {}),
          ...(changes.failureCode !== undefined ? { failure_code: changes.failureCode } : {}),
          ...(changes.turnUsage !== undefined ? { turn_usage: JSON.stringify(changes.turnUsage) } : {}),
          ...(changes.usage !== undefined ? { usage: JSON.stringify(changes.usage) } : {}),
          ...(changes.used !== undefined ? { turns_used: changes.used.turns, tokens_used: changes.used.tokens, wall_clock_ms: changes.used.wallClockMs } : {}),
          ...(changes.result !== undefined ? { result: JSON.stringify(changes.result) } : {}),
          ...(changes.ended ? { ended_at: at } : {}),
        })
        .where('id', '=', parsedRunId)
        .where('session_id', '=', id)
        .where('user_key', '=', keys.userKey)
        .where('tenant_key', '=', keys.tenantKey)
        .returningAll()
        .executeTakeFirst();
      if (row) return toRun(row);
      if (!(await selectSession(db, keys, id))) throw sessionNotFound(id);
      throw runNotFound(id, parsedRunId);
    },

    async getRun(owner, sessionId, runId) {
      const keys = ownerKeys(parseOwner(owner));
      const row = await db
        .selectFrom('agents_runs')
        .selectAll()
        .where('id', '=', parseRunId(runId))
        .where('session_id', '=', parseSessionId(sessionId))
        .where('user_key', '=', keys.userKey)
        .where('tenant_key', '=', keys.tenantKey)
        .executeTakeFirst();
      return row && toRun(row);
    },

    async releaseLock(owner, sessionId, token) {
      const keys = ownerKeys(parseOwner(owner));
      const id = parseSessionId(sessionId);
      const parsedToken = parseToken(token);
      // Only the current token clears the lock: a holder that outlived its lease
      // must not release the lock someone else took since.
      const released = await db
        .updateTable('agents_sessions')
        .set({ lock_token: null, lock_expires_at: null })
        .where('id', '=', id)
        .where(ofOwner(keys))
        .where('lock_token', '=', parsedToken)
        .returning('id')
        .executeTakeFirst();
      if (released) return { released: true };
      if (!(await selectSession(db, keys, id))) throw sessionNotFound(id);
      return { released: false, reason: 'stale' };
    },
  }, 'transcript.store_failed', 'Postgres transcript store');
}

/**
 * One page of `query` in the listing order, newest first, ids bytewise
 * (`collate "C"`, whatever the database's locale, as the indexes are built).
 * One row more than the page tells whether there is a next one.
 */
/**
 * `openSession` as one call of `agents_open_session` (migration 0005): the
 * session created already leased with its messages and its run, or (keyed)
 * an existing one of the owner's leased and its run found by key or begun;
 * no row, having written nothing, when no lease was taken. Planned once per
 * connection, as the append is (at low load the planning of the inline
 * statement cost more than its writing). Also the speed trick of
 * `durability: 'with_next_write'`, in one place: the function sets
 * `synchronous_commit` off for its own (implicit) transaction only, so that
 * commit does not wait for the WAL flush, and nothing else on the connection
 * changes; any later commit of the caller flushes the WAL past it. Why this
 * cannot lose content or break fencing: docs/decisions/2026-11-30-durable-streaming.md,
 * "The open's commit" and "2026-12-01, stop 22".
 */
function openCall(
  keys: Keys,
  id: string,
  session: ParsedNewSession,
  messages: readonly AgentMessage[],
  at: Date,
  token: string,
  expiresAt: Date,
  idempotencyKey: string | null,
  runId: string,
  seqAtStart: number,
  durability: 'immediate' | 'with_next_write',
): CompiledQuery<OpenedRow> {
  return CompiledQuery.raw(transcriptStoreCalls.openSession, [
    id, session.agentSlug, keys.userKey, keys.tenantKey, session.title ?? null,
    JSON.stringify(session.metadata ?? {}), JSON.stringify(messages), at, token, expiresAt,
    idempotencyKey, runId, seqAtStart, durability === 'with_next_write',
  ]) as CompiledQuery<OpenedRow>;
}

/**
 * The session and run `agents_open_session` created, as the rows now hold
 * them: what the call sent, and the run columns' defaults (migration 0002).
 * Built here rather than sent back, so a new session's open parses no row:
 * see docs/decisions/2026-11-30-durable-streaming.md, "2026-12-01, stop 22".
 */
function createdByOpen(
  keys: Keys,
  id: string,
  session: ParsedNewSession,
  messageCount: number,
  at: Date,
  run: { readonly runId: string; readonly idempotencyKey: string | null; readonly seqAtStart: number },
): { readonly session: TranscriptSession; readonly run: RunRecord } {
  const userId = ownerIdFromKey(keys.userKey);
  const tenantId = ownerIdFromKey(keys.tenantKey);
  return {
    session: {
      id,
      agentSlug: session.agentSlug,
      userId,
      tenantId,
      title: session.title ?? null,
      // As stored: a copy through JSON, as the statement sent it (checked storable, a record).
      metadata: session.metadata === undefined ? {} : (JSON.parse(JSON.stringify(session.metadata)) as Record<string, unknown>),
      lastSeq: messageCount,
      createdAt: new Date(at.getTime()),
      updatedAt: new Date(at.getTime()),
    },
    run: newRunRecord({ id: run.runId, sessionId: id, agentSlug: session.agentSlug, userId, tenantId, idempotencyKey: run.idempotencyKey, seqAtStart: run.seqAtStart, at }),
  };
}

/** A row `to_jsonb` gave back, its timestamps as dates again. */
function fromJsonRow<Row extends object>(row: JsonRow<Row>): Row {
  const dated: Record<string, unknown> = { ...row };
  for (const column of ['created_at', 'updated_at', 'lock_expires_at', 'started_at', 'ended_at']) {
    const value = dated[column];
    if (typeof value === 'string') dated[column] = new Date(value);
  }
  return dated as Row;
}

async function selectPage(query: SelectQueryBuilder<AgentsApiDatabase, 'agents_sessions', SessionRow>, limit: number, after: SessionCursor | undefined): Promise<SessionPage> {
  const keyset = after === undefined ? query : query.where(sql<boolean>`(updated_at, id collate "C") < (${after.updatedAt}::timestamptz, ${after.id} collate "C")`);
  const rows = await keyset
    .orderBy('updated_at', 'desc')
    .orderBy(sql`id collate "C" desc`)
    .limit(limit + 1)
    .execute();
  return pageOf(rows.map(toSession), limit);
}

/** The owner's session's lock as it is now, or undefined when there is no such session of theirs. */
function readLock(db: Db, keys: Keys, id: string): Promise<Pick<Selectable<SessionTable>, 'lock_token' | 'lock_expires_at'> | undefined> {
  return db
    .selectFrom('agents_sessions')
    .select(['lock_token', 'lock_expires_at'])
    .where('id', '=', id)
    .where(ofOwner(keys))
    .executeTakeFirst();
}

/**
 * An append (and, with `ending`, a run's last write: the run's ending and the
 * lease's release with it) as one call of `agents_append_messages`
 * (migration 0004): one statement, atomic without a transaction, one round
 * trip, and planned once per connection instead of on every call (at low
 * load the planning cost more than the writing). It returns no row, having
 * written nothing, when the fence, the owner or the run id refused it. See
 * docs/decisions/2026-11-30-durable-streaming.md, "2026-12-01, stop 21".
 */
function appendCall(
  keys: Keys,
  id: string,
  messages: readonly AgentMessage[],
  changes: ParsedSessionUpdate,
  token: string | undefined,
  ending: { readonly runId: string; readonly update: ParsedRunUpdate } | undefined,
  at: Date,
): CompiledQuery<SessionRow> {
  const metadata = changes.metadata === undefined ? null : JSON.stringify(changes.metadata);
  // A field of the run's update that is undefined is left out of its JSON, and so not set.
  const runUpdate = ending ? JSON.stringify(ending.update) : null;
  return CompiledQuery.raw(transcriptStoreCalls.append, [
    id, keys.userKey, keys.tenantKey, token ?? null, at, JSON.stringify(messages),
    changes.title !== undefined, changes.title ?? null, metadata,
    ending?.runId ?? null, runUpdate,
  ]) as CompiledQuery<SessionRow>;
}

/** Why an append wrote nothing: no such session, a lost lease, or (unfenced) a lock someone holds. */
async function refusedAppend(db: Db, keys: Keys, id: string, token: string | undefined, at: Date, runId: string | undefined): Promise<AgentsApiError> {
  const current = await readLock(db, keys, id);
  if (!current) return sessionNotFound(id);
  if (runId !== undefined && !(await db.selectFrom('agents_runs').select('id').where('id', '=', runId).where('session_id', '=', id).executeTakeFirst())) {
    return runNotFound(id, runId);
  }
  if (token !== undefined) return leaseLost(id);
  // Unfenced and refused: someone held the lock at `at`. Reported with its expiry as read now.
  return sessionLocked(id, current.lock_expires_at ?? at);
}

/** Whether any session (of any owner) has the id. */
async function sessionIdTaken(db: Db, id: string): Promise<boolean> {
  return (await db.selectFrom('agents_sessions').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

/** The duplicated message id, from the violation's detail: `Key (session_id, message_id)=(s, m) already exists.` */
function messageIdOf(error: unknown): string | undefined {
  const detail = (error as { detail?: unknown }).detail;
  return typeof detail === 'string' ? /\(session_id, message_id\)=\([^,]*, (.*)\) already exists/.exec(detail)?.[1] : undefined;
}

/**
 * The owner's condition of a lookup by primary key (a session by id, a
 * session's messages): compared with IS NOT DISTINCT FROM (the same as `=` on
 * these not-null columns), which no index serves, so the planner cannot read
 * the owner's index (`agents_sessions_owner_idx`,
 * `agents_session_messages_owner_idx`) and filter by id instead: on a table
 * not yet analyzed it did, reading every session of the owner per lookup.
 * Listings by owner and `deleteUserData` keep `=`: their index serves them. See
 * docs/decisions/2026-11-30-durable-streaming.md, "2026-12-02, stop 26:
 * primary-key lookups".
 */
function ofOwner(keys: Keys): RawBuilder<SqlBool> {
  return sql<SqlBool>`user_key is not distinct from ${keys.userKey} and tenant_key is not distinct from ${keys.tenantKey}`;
}

function selectSession(db: Db, keys: Keys, id: string, options: { forUpdate?: boolean } = {}): Promise<SessionRow | undefined> {
  const query = db
    .selectFrom('agents_sessions')
    .select(sessionColumns)
    .where('id', '=', id)
    .where(ofOwner(keys));
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

function toSession(row: SessionRow): TranscriptSession {
  return {
    id: row.id,
    agentSlug: row.agent_slug,
    userId: ownerIdFromKey(row.user_key),
    tenantId: ownerIdFromKey(row.tenant_key),
    title: row.title,
    metadata: metadataSchema.parse(row.metadata),
    lastSeq: row.last_seq,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const runJsonSchema = z.object({ turnUsage: z.array(z.unknown()), usage: z.record(z.string(), z.unknown()) });

function toRun(row: Selectable<RunTable>): RunRecord {
  // JSON columns are an edge: checked, not trusted.
  const json = runJsonSchema.parse({ turnUsage: row.turn_usage, usage: row.usage });
  return {
    id: row.id,
    sessionId: row.session_id,
    agentSlug: row.agent_slug,
    userId: ownerIdFromKey(row.user_key),
    tenantId: ownerIdFromKey(row.tenant_key),
    idempotencyKey: row.idempotency_key,
    status: row.status as RunStatus,
    failureCode: row.failure_code,
    turnUsage: json.turnUsage,
    usage: json.usage,
    used: { turns: row.turns_used, tokens: row.tokens_used, wallClockMs: Number(row.wall_clock_ms) },
    attempts: row.attempts,
    seqAtStart: row.seq_at_start,
    result: row.result ?? null,
    startedAt: row.started_at,
    updatedAt: row.updated_at,
    endedAt: row.ended_at,
  };
}

function toStoredMessage(row: MessageRow): StoredMessage {
  return {
    sessionId: row.session_id,
    seq: row.seq,
    userId: ownerIdFromKey(row.user_key),
    tenantId: ownerIdFromKey(row.tenant_key),
    // A JSON column is an edge: a row written by another version is checked, not trusted.
    message: parseMessage(row.body),
  };
}
