import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { SimpleQuery } from '../scope/scoped-statements';

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
 * several statements answer with one result each).
 */
export function simpleQueryOf(executor: Pick<PgliteExecutor, 'exec'> | { query(text: string): Promise<unknown> }): SimpleQuery {
  if ('exec' in executor) return async (text) => (await executor.exec(text)).map((result) => result.rows);
  return async (text) => {
    const result = (await executor.query(text)) as { rows: unknown[] } | readonly { rows: unknown[] }[];
    return Array.isArray(result) ? result.map((each: { rows: unknown[] }) => each.rows) : [(result as { rows: unknown[] }).rows];
  };
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
