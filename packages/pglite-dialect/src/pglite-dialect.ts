import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { nodePostgresParsers, type ValueParsers } from './node-postgres-parsers';

/** What the dialect runs statements through: PGlite itself or one of its transactions. */
export interface PgliteQueryable {
  query<Row>(
    sql: string,
    params?: unknown[],
    options?: { parsers?: ValueParsers },
  ): Promise<{ rows: Row[]; affectedRows?: number }>;
}

/** A PGlite transaction, as its `transaction()` callback receives it. */
export interface PgliteTransaction extends PgliteQueryable {
  rollback(): Promise<void>;
}

/**
 * The part of a PGlite instance the dialect uses, taken structurally so
 * this module needs PGlite's types only, never its code.
 */
export interface PgliteClient extends PgliteQueryable {
  transaction<T>(callback: (transaction: PgliteTransaction) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Options of {@link PgliteDialect}. */
export interface PgliteDialectOptions {
  /** The embedded database. `Kysely#destroy()` closes it. */
  readonly pglite: PgliteClient;
}

/**
 * A kysely dialect for embedded PGlite.
 *
 * A kysely transaction runs inside PGlite's own `transaction()`, which holds
 * PGlite's transaction lock until commit or rollback. PGlite is one session:
 * without that lock a statement from anyone else (another kysely query, or
 * pg-boss talking to the same PGlite) would silently run inside our open
 * transaction. The cost: a non-transactional query issued while a
 * transaction is open waits for it, so never use the outer `db` inside
 * `db.transaction()`; on real Postgres that mistake is a pool connection
 * leak, here it waits forever.
 *
 * Values are parsed as node-postgres parses them (int8 and numeric as
 * strings, dates as `Date`), so code behaves the same on both backends.
 *
 * @example
 * const db = new Kysely<Database>({ dialect: new PgliteDialect({ pglite: await PGlite.create('./.data/db') }) });
 */
export class PgliteDialect implements Dialect {
  readonly #options: PgliteDialectOptions;

  constructor(options: PgliteDialectOptions) {
    this.#options = options;
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PgliteDriver(this.#options.pglite);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  // kysely's own signature uses Kysely<any>.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}

class PgliteDriver implements Driver {
  readonly #pglite: PgliteClient;

  constructor(pglite: PgliteClient) {
    this.#pglite = pglite;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new PgliteConnection(this.#pglite);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    asPgliteConnection(connection).assertNoOpenTransaction();
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await asPgliteConnection(connection).begin(settings);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await asPgliteConnection(connection).end('commit');
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await asPgliteConnection(connection).end('rollback');
  }

  async savepoint(connection: DatabaseConnection, savepointName: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdentifier(savepointName)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, savepointName: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdentifier(savepointName)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, savepointName: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdentifier(savepointName)}`));
  }

  async destroy(): Promise<void> {
    await this.#pglite.close();
  }
}

type TransactionOutcome = 'commit' | 'rollback';

interface OpenTransaction {
  readonly transaction: PgliteTransaction;
  readonly finish: (outcome: TransactionOutcome) => void;
  /** Settles when PGlite has committed or rolled back. */
  readonly settled: Promise<void>;
}

class PgliteConnection implements DatabaseConnection {
  readonly #pglite: PgliteClient;
  #open: OpenTransaction | undefined;

  constructor(pglite: PgliteClient) {
    this.#pglite = pglite;
  }

  async executeQuery<Row>(compiledQuery: CompiledQuery): Promise<QueryResult<Row>> {
    const target: PgliteQueryable = this.#open?.transaction ?? this.#pglite;
    const result = await target.query<Row>(compiledQuery.sql, [...compiledQuery.parameters], {
      parsers: nodePostgresParsers,
    });
    return result.affectedRows === undefined
      ? { rows: result.rows }
      : { rows: result.rows, numAffectedRows: BigInt(result.affectedRows) };
  }

  /** PGlite has no cursors: the rows are fetched at once and handed out in chunks. */
  async *streamQuery<Row>(compiledQuery: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<Row>> {
    const { rows } = await this.executeQuery<Row>(compiledQuery);
    for (let start = 0; start < rows.length; start += chunkSize) {
      yield { rows: rows.slice(start, start + chunkSize) };
    }
  }

  async begin(settings: TransactionSettings): Promise<void> {
    if (this.#open) throw new Error('PgliteDialect: a transaction is already open on this connection');
    let finish: (outcome: TransactionOutcome) => void = () => undefined;
    const outcome = new Promise<TransactionOutcome>((resolve) => {
      finish = resolve;
    });
    let settled: Promise<void> = Promise.resolve();
    const transaction = await new Promise<PgliteTransaction>((started, failedToStart) => {
      settled = this.#pglite.transaction(async (transaction) => {
        started(transaction);
        if ((await outcome) === 'rollback') await transaction.rollback();
      });
      // Before the callback runs, a failure means BEGIN failed; afterwards
      // this handler is a no-op and end() reports the failure.
      settled.catch(failedToStart);
    });
    this.#open = { transaction, finish, settled };
    if (settings.isolationLevel || settings.accessMode) {
      const parts = [
        settings.isolationLevel ? `isolation level ${settings.isolationLevel}` : '',
        settings.accessMode ?? '',
      ].filter(Boolean);
      await this.executeQuery(CompiledQuery.raw(`set transaction ${parts.join(' ')}`));
    }
  }

  async end(outcome: TransactionOutcome): Promise<void> {
    const open = this.#open;
    if (!open) throw new Error(`PgliteDialect: ${outcome} without an open transaction`);
    this.#open = undefined;
    open.finish(outcome);
    await open.settled;
  }

  assertNoOpenTransaction(): void {
    if (this.#open) {
      // A leaked transaction would hold PGlite's lock forever; end it.
      this.#open.finish('rollback');
      this.#open = undefined;
      throw new Error('PgliteDialect: connection released with an open transaction; it was rolled back');
    }
  }
}

function asPgliteConnection(connection: DatabaseConnection): PgliteConnection {
  if (!(connection instanceof PgliteConnection)) throw new Error('PgliteDialect: foreign connection');
  return connection;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
