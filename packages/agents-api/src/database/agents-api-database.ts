import type { ColumnType, Kysely } from 'kysely';

/** A `timestamptz` column: read as a Date, written as a Date. */
type Timestamp = ColumnType<Date, Date, Date>;
/** A `jsonb` column: read as parsed JSON, written as JSON text. */
type Json<T> = ColumnType<T, string, string>;

/**
 * One memory file. `tenant_key` / `user_key` are the tenant and user ids, or
 * `''` for none, so the unique key can hold them (`NULL`s never collide in a
 * unique index).
 */
export interface MemoryFileTable {
  layer: string;
  tenant_key: string;
  agent_slug: string;
  user_key: string;
  path: string;
  content: string;
  content_hash: string;
  bytes: number;
  metadata: Json<Record<string, unknown>>;
  updated_at: Timestamp;
}

/**
 * One conversation session. `user_key` / `tenant_key` are the owner's ids or
 * `''` for none, compared exactly: a session with no user is never anyone's.
 * `last_seq` is the append counter; `UPDATE … SET last_seq = last_seq + n`
 * takes the row lock that keeps sequence numbers contiguous.
 */
export interface SessionTable {
  id: string;
  agent_slug: string;
  user_key: string;
  tenant_key: string;
  title: string | null;
  metadata: Json<Record<string, unknown>>;
  last_seq: ColumnType<number, number | undefined, number>;
  lock_token: string | null;
  lock_expires_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** One stored message: the envelope as JSON, with its owner copied from the session. */
export interface SessionMessageTable {
  session_id: string;
  seq: number;
  message_id: string;
  user_key: string;
  tenant_key: string;
  type: string;
  role: string;
  body: Json<Record<string, unknown>>;
  created_at: Timestamp;
}

/** One run of a session: its outcome, what it spent, and the caller's idempotency key (unique per session). */
export interface RunTable {
  id: string;
  session_id: string;
  agent_slug: string;
  user_key: string;
  tenant_key: string;
  idempotency_key: string | null;
  status: string;
  failure_code: string | null;
  turn_usage: Json<unknown[]>;
  usage: Json<Record<string, unknown>>;
  turns_used: ColumnType<number, number | undefined, number>;
  tokens_used: ColumnType<number, number | undefined, number>;
  /** A bigint column: pg reads it as a string. */
  wall_clock_ms: ColumnType<string | number | bigint, number | undefined, number>;
  attempts: ColumnType<number, number | undefined, number>;
  seq_at_start: number;
  result: ColumnType<unknown, string | null | undefined, string | null>;
  started_at: Timestamp;
  updated_at: Timestamp;
  ended_at: Timestamp | null;
}

/** The tables of `@data-machine/agents-api`, as kysely sees them. */
export interface AgentsApiDatabase {
  agents_memory_files: MemoryFileTable;
  agents_sessions: SessionTable;
  agents_session_messages: SessionMessageTable;
  agents_runs: RunTable;
}

/**
 * The host's database seen through this package's tables only. Kysely cannot
 * resolve columns through an unresolved generic, so the stores query this view;
 * the constraint on `Database` is what makes the view sound: the host's
 * database holds these tables with these columns.
 */
export function agentsApiTables<Database extends AgentsApiDatabase>(db: Kysely<Database>): Kysely<AgentsApiDatabase> {
  return db as Kysely<AgentsApiDatabase>;
}
