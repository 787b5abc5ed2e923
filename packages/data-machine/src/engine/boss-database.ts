import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { createPreparedStatements, type PreparedSession, type SimpleQuery, type StatementRows } from '../scope/scoped-statements';

/** What pg-boss runs its SQL through (its `db` option): anything with `executeSql`. */
export interface BossDatabase {
  executeSql(text: string, values?: readonly unknown[]): Promise<{ rows: unknown[] }>;
}

/** The part of a PGlite instance the adapter uses, taken structurally (no dependency on PGlite). */
export interface PgliteExecutor {
  query<Row>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  exec(text: string): Promise<ReadonlyArray<{ rows: unknown[] }>>;
}

/** The part of a `pg` Pool the adapter uses. */
export interface PoolExecutor {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  /** A connection of the pool, held until released (`pg`'s `Pool#connect`): where the engine keeps its prepared statements. */
  connect?(): Promise<PoolConnection>;
}

/** A connection checked out of a `pg` Pool. */
export interface PoolConnection {
  query(text: string): Promise<unknown>;
  /** Returns it to the pool; with an error, the pool closes it instead. */
  release(error?: Error): void;
}

/**
 * pg-boss on embedded PGlite. pg-boss sends its schema and maintenance
 * plans as one multi-statement string without parameters: PGlite's `query`
 * (the extended protocol) refuses more than one statement, so those go
 * through `exec` (the simple protocol); parameterised SQL through `query`.
 */
export function pgliteBossDatabase(pglite: PgliteExecutor): BossDatabase {
  return {
    async executeSql(text, values) {
      if (values === undefined || values.length === 0) {
        const results = await pglite.exec(text);
        return { rows: results.at(-1)?.rows ?? [] };
      }
      return pglite.query(text, [...values]);
    },
  };
}

/** pg-boss on a `pg` Pool the host already has (node-postgres takes multi-statement SQL without parameters). */
export function poolBossDatabase(pool: PoolExecutor): BossDatabase {
  return { executeSql: (text, values) => pool.query(text, values === undefined ? undefined : [...values]) };
}

/** A {@link BossDatabase} that can be shut: see {@link shuttableBossDatabase}. */
export interface ShuttableBossDatabase {
  readonly db: BossDatabase;
  /** From now on every statement is answered with nothing and never reaches the database; `open` undoes it. */
  shut(): void;
  open(): void;
}

/**
 * pg-boss on the host's connection (a pool or a PGlite it closes itself),
 * shut once the engine has stopped. pg-boss 10 completes or fails a job
 * without awaiting it when a handler ends, and a worker whose fetch was in
 * flight when it was told to stop still hands that fetch's jobs to its
 * handler: after the engine's stop, those statements would reach a database
 * the host closes next, and their rejection, which nothing handles, ends the
 * process with exit code 1 (the server's worker on SIGTERM, under load). A
 * shut connection answers `undefined`, as pg-boss's own connection does once
 * closed (pg-boss reads that as no rows); the jobs concerned stay active in
 * pg-boss and expire, as after a crash. See
 * docs/decisions/2026-12-01-job-engine.md, "Stopping".
 */
export function shuttableBossDatabase(db: BossDatabase): ShuttableBossDatabase {
  let shut = false;
  return {
    db: {
      // pg-boss's own closed connection answers `undefined` too, which its callers expect; the type says rows.
      executeSql: (text, values) => (shut ? Promise.resolve(undefined as unknown as { rows: unknown[] }) : db.executeSql(text, values)),
    },
    shut: () => {
      shut = true;
    },
    open: () => {
      shut = false;
    },
  };
}

/**
 * A {@link SimpleQuery} on PGlite (`exec`: the simple protocol) or on a
 * `pg` pool (a query without values goes through the simple protocol, and
 * several statements answer with one result each). Statements are prepared
 * on each session (docs/decisions/2026-12-01-engine-speed.md, "fifth pass"):
 * PGlite's one, and each connection of a pool that can lend one (`connect`).
 */
export function simpleQueryOf(executor: Pick<PgliteExecutor, 'exec'> | SessionsExecutor): SimpleQuery {
  if ('exec' in executor) {
    // PGlite is one session: statements prepared on it stay for its lifetime.
    const run = async (text: string) => (await executor.exec(text)).map((result) => result.rows);
    const session: PreparedSession = { run, prepared: createPreparedStatements(run) };
    return Object.assign(run, { session: <T>(work: (session: PreparedSession) => Promise<T>) => work(session) });
  }
  const run = async (text: string) => rowsOf(await executor.query(text));
  const connect = executor.connect?.bind(executor);
  if (connect === undefined) return run;
  return Object.assign(run, { session: <T>(work: (session: PreparedSession) => Promise<T>) => onConnection(connect, work, run) });
}

/** What {@link simpleQueryOf} runs on besides PGlite: a pool's queries, and its connections when it lends them (null: not now). */
export interface SessionsExecutor {
  query(text: string): Promise<unknown>;
  connect?(): Promise<PoolConnection | null>;
}

/** Each pooled connection's session: its prepared statements live as long as it does. */
const connectionSessions = new WeakMap<PoolConnection, PreparedSession>();

async function onConnection<T>(connect: () => Promise<PoolConnection | null>, work: (session: PreparedSession) => Promise<T>, run: PreparedSession['run']): Promise<T> {
  const connection = await connect();
  if (connection === null) return work({ run, prepared: undefined });
  let session = connectionSessions.get(connection);
  if (session === undefined) {
    const run = async (text: string) => rowsOf(await connection.query(text));
    session = { run, prepared: createPreparedStatements(run) };
    connectionSessions.set(connection, session);
  }
  try {
    const result = await work(session);
    connection.release();
    return result;
  } catch (error) {
    // A statement's error (severity ERROR) ended its implicit transaction and left the session as it was: keep it.
    // Anything else (a broken connection, FATAL) closes it, as `pg`'s own `Pool#query` does.
    const intact = typeof error === 'object' && error !== null && 'severity' in error && error.severity === 'ERROR';
    connection.release(intact ? undefined : error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
}

function rowsOf(result: unknown): StatementRows {
  const results = result as { rows: unknown[] } | readonly { rows: unknown[] }[];
  return Array.isArray(results) ? results.map((each: { rows: unknown[] }) => each.rows) : [(results as { rows: unknown[] }).rows];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

/**
 * pg-boss through kysely: inside a transaction (`boss.send(name, data, { db })`,
 * so the pg-boss job commits or rolls back with the product's rows), or on
 * the database for installing pg-boss's schema. A multi-statement plan is
 * split and its statements run in one transaction (the open one, or a new
 * one), since a kysely driver may send SQL through the extended protocol;
 * the plan's own BEGIN and COMMIT are dropped.
 */
export function kyselyBossDatabase(executor: AnyKysely | Transaction<unknown>): BossDatabase {
  const db = executor as AnyKysely;
  return {
    async executeSql(text, values) {
      const statements = values === undefined || values.length === 0 ? splitStatements(text) : [text];
      if (statements.length <= 1) {
        const result = await db.executeQuery(CompiledQuery.raw(text, values === undefined ? [] : [...values]));
        return { rows: result.rows as unknown[] };
      }
      const body = statements.filter((statement) => !/^(begin|commit)$/i.test(statement));
      const run = async (trx: AnyKysely): Promise<{ rows: unknown[] }> => {
        let rows: unknown[] = [];
        for (const statement of body) rows = (await trx.executeQuery(CompiledQuery.raw(statement, []))).rows as unknown[];
        return { rows };
      };
      return db.isTransaction ? run(db) : db.transaction().execute(run);
    },
  };
}

/**
 * Splits SQL on the semicolons that end statements: not inside quotes,
 * quoted identifiers or dollar-quoted bodies (pg-boss's plpgsql functions).
 * Empty statements are dropped.
 */
export function splitStatements(text: string): readonly string[] {
  const statements: string[] = [];
  let start = 0;
  let index = 0;
  while (index < text.length) {
    const char = text[index];
    if (char === "'" || char === '"') {
      index = text.indexOf(char, index + 1);
      if (index === -1) break;
      index += 1;
    } else if (char === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(text.slice(index))?.[0];
      if (tag === undefined) {
        index += 1;
      } else {
        const end = text.indexOf(tag, index + tag.length);
        index = end === -1 ? text.length : end + tag.length;
      }
    } else if (char === '-' && text[index + 1] === '-') {
      const end = text.indexOf('\n', index);
      index = end === -1 ? text.length : end + 1;
    } else if (char === ';') {
      statements.push(text.slice(start, index));
      index += 1;
      start = index;
    } else {
      index += 1;
    }
  }
  statements.push(text.slice(start));
  return statements.map((statement) => statement.trim()).filter((statement) => statement.length > 0);
}
