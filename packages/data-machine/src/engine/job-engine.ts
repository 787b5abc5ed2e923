import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import PgBoss from 'pg-boss';
import { appRole } from '../database/migrations/0001-identity';
import type { SimpleQuery } from '../scope/scoped-statements';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { kyselyBossDatabase, pgliteBossDatabase, poolBossDatabase, shuttableBossDatabase, simpleQueryOf, type PgliteExecutor, type PoolExecutor, type SessionsExecutor, type ShuttableBossDatabase } from './boss-database';

/** The pg-boss queues of the engine: product jobs, outbox dispatch, and undos of jobs' effects. */
export const engineQueues = { job: 'dm_job', outbox: 'dm_outbox', undo: 'dm_undo' } as const;

/** What a pg-boss job of {@link engineQueues.job} carries: the product job it executes. */
export interface EngineMessage {
  readonly tenantId: string;
  readonly jobId: string;
  /** Set on a signal wait's deadline: the wait it wakes. Such a delivery runs the job only while it is still in that wait. */
  readonly wake?: string;
}

/** Where pg-boss keeps its tables: a `pg` Pool or connection string (Postgres), or an embedded PGlite. */
export type EngineDatabase = { readonly pool: PoolExecutor } | { readonly connectionString: string; readonly max?: number } | { readonly pglite: PgliteExecutor };

/** Options of {@link createJobEngine}. */
export interface JobEngineOptions {
  readonly database: EngineDatabase;
  /** pg-boss's schema; default `pgboss`. */
  readonly schema?: string;
  /** How often an idle worker polls, in seconds (pg-boss's minimum is 0.5); default 2. */
  readonly pollingIntervalSeconds?: number;
  /**
   * How long a worker may hold a pg-boss job before pg-boss takes it back
   * (its only liveness signal: pg-boss 10 has no heartbeat); default 900.
   * Must exceed the longest step: a step is aborted a little before it.
   */
  readonly expireInSeconds?: number;
  /** How many times pg-boss re-delivers a job whose worker vanished (expired); default 2. */
  readonly redeliveries?: number;
  /** Whether this process runs pg-boss's maintenance (expiry, archiving); default true. */
  readonly supervise?: boolean;
  /** How often maintenance runs, in seconds (minimum 1); default 60. */
  readonly maintenanceIntervalSeconds?: number;
}

/** When enqueued work may start: at a time, or after a delay (measured by the database's clock); default now. */
export interface EnqueueOptions {
  readonly startAfter?: Date;
  readonly delayMs?: number;
}

/** The engine: pg-boss, and the one way the product enqueues work on it. */
export interface JobEngine {
  readonly boss: PgBoss;
  readonly options: Required<Omit<JobEngineOptions, 'database'>>;
  start(): Promise<void>;
  /** Stops pg-boss; its workers stop taking work first (see `createJobWorker` for a graceful stop). */
  stop(): Promise<void>;
  /**
   * Enqueues the execution of product jobs in the caller's transaction:
   * they commit or roll back with it. One multi-row insert however many.
   * Resolves to the pg-boss job ids, in order.
   */
  enqueue(trx: TenantTransaction, messages: readonly EngineMessage[], options?: EnqueueOptions): Promise<readonly string[]>;
  /**
   * Runs parameterless SQL, one or more statements, in one round trip and one
   * implicit transaction on the engine's database (the product's, too), once
   * started; each statement's rows. The executor's one-statement transactions
   * use it (`runScoped`).
   */
  readonly simpleQuery: SimpleQuery;
  /**
   * Whether {@link JobEngine.simpleQuery} can run now: always on a PGlite or a
   * pool the host passed, and on pg-boss's own pool (a connection string)
   * only while the engine is started.
   */
  simpleQueryReady(): boolean;
  /** The statement {@link JobEngine.enqueue} would run, unexecuted, for a batch of `simpleQuery` that must enqueue with its other writes. */
  enqueueStatement(messages: readonly EngineMessage[], options?: EnqueueOptions): Promise<CompiledQuery>;
  /** pg-boss's fetch of up to `batchSize` jobs of {@link engineQueues.job}, unexecuted: pg-boss's SQL, for the worker's folded fetch. */
  fetchStatement(batchSize: number): Promise<CompiledQuery>;
  /** pg-boss's completion of deliveries of {@link engineQueues.job}, unexecuted: pg-boss's SQL, for an end that completes its delivery in the same round trip. */
  completeStatement(ids: readonly string[]): Promise<CompiledQuery>;
  /** Whether {@link JobEngine.stop} was called: the worker's polling loops end then. */
  isStopped(): boolean;
}

/**
 * Creates the job engine on pg-boss. pg-boss's schema must be installed
 * ({@link installJobEngine}); the engine never migrates it at start.
 *
 * @example
 * const engine = createJobEngine({ database: { connectionString: process.env.DATABASE_URL } });
 * await engine.start();
 */
export function createJobEngine(options: JobEngineOptions): JobEngine {
  const resolved = {
    schema: options.schema ?? 'pgboss',
    pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2,
    expireInSeconds: options.expireInSeconds ?? 900,
    redeliveries: options.redeliveries ?? 2,
    supervise: options.supervise ?? true,
    maintenanceIntervalSeconds: options.maintenanceIntervalSeconds ?? 60,
  };
  const database = options.database;
  const { connection, hostConnection } = bossConnection(database);
  const boss = new PgBoss({
    ...connection,
    schema: resolved.schema,
    migrate: false,
    schedule: false,
    supervise: resolved.supervise,
    maintenanceIntervalSeconds: resolved.maintenanceIntervalSeconds,
    // Monitoring is not the engine's business; its own reconciler watches liveness.
    monitorStateIntervalSeconds: 3600,
  });
  // pg-boss reports background errors as events; without a listener they would crash the process.
  boss.on('error', () => undefined);
  const simpleQuery: SimpleQuery =
    'pglite' in database ? simpleQueryOf(database.pglite) : 'pool' in database ? simpleQueryOf(database.pool) : simpleQueryOf(ownPoolOf(boss));
  let started = false;
  let stopped = false;
  const sendOptions = { retryLimit: resolved.redeliveries, retryDelay: 0, expireInSeconds: resolved.expireInSeconds };
  return {
    boss,
    options: resolved,
    simpleQuery,
    simpleQueryReady: () => !('connectionString' in database) || started,
    async start() {
      hostConnection?.open();
      await boss.start();
      started = true;
      stopped = false;
    },
    isStopped: () => stopped,
    async stop() {
      started = false;
      stopped = true;
      try {
        await boss.stop({ graceful: false, wait: true, close: true });
      } finally {
        hostConnection?.shut();
      }
    },
    async enqueue(trx, messages, enqueueOptions = {}) {
      if (messages.length === 0) return [];
      const jobs = bossJobs(messages, enqueueOptions);
      await boss.insert(jobs, { db: kyselyBossDatabase(trx) as PgBoss.Db });
      return jobs.map((job) => job.id);
    },
    enqueueStatement: (messages, enqueueOptions = {}) => captured('insert', (db) => boss.insert(bossJobs(messages, enqueueOptions), { db })),
    fetchStatement: (batchSize) => captured('fetch', (db) => boss.fetch(engineQueues.job, { batchSize, db })),
    // pg-boss 10 runs `complete(name, ids, data, options)`; its types offer `options` third, which it would read as `data`.
    completeStatement: (ids) => captured('complete', (db) => (boss.complete as unknown as BossComplete).call(boss, engineQueues.job, [...ids], null, { db }), [{ count: '0' }]),
  };

  /** The one statement `call` has pg-boss build and hand to its `db`: kept, not run, so pg-boss's SQL stays pg-boss's. */
  async function captured(what: string, call: (db: PgBoss.Db) => Promise<unknown>, rows: readonly object[] = []): Promise<CompiledQuery> {
    let statement: CompiledQuery | undefined;
    // `rows`: what pg-boss reads from its statement's answer after it (a completion reads a count).
    const capture = { executeSql: async (text: string, values: unknown[] = []) => ((statement = CompiledQuery.raw(text, values)), { rows: [...rows] }) };
    await call(capture as unknown as PgBoss.Db);
    if (statement === undefined) throw new Error(`pg-boss sent no ${what} statement.`);
    return statement;
  }

  function bossJobs(messages: readonly EngineMessage[], enqueueOptions: EnqueueOptions) {
    // pg-boss reads an ISO time ending in Z as a time, anything else as an interval from now().
    const startAfter =
      enqueueOptions.startAfter !== undefined ? enqueueOptions.startAfter.toISOString() : enqueueOptions.delayMs ? `${Math.ceil(enqueueOptions.delayMs)} milliseconds` : undefined;
    return messages.map((message) => ({
      id: randomUUID(),
      name: engineQueues.job,
      data: { tenantId: message.tenantId, jobId: message.jobId, ...(message.wake === undefined ? {} : { wake: message.wake }) },
      ...sendOptions,
      ...(startAfter === undefined ? {} : { startAfter }),
    }));
  }
}

/**
 * pg-boss's own pool (a connection string) as the engine's: its queries, and
 * a connection lent for a batch that uses prepared statements. pg-boss keeps
 * the `pg` Pool on its `Db` once started (`getDb().pool`, read structurally;
 * without it, batches are not prepared).
 */
function ownPoolOf(boss: PgBoss): SessionsExecutor {
  const pool = () => (boss.getDb() as { pool?: Partial<PoolExecutor> }).pool;
  return {
    query: async (text) => {
      // pg-boss's own pool answers nothing until the engine has started.
      const result: unknown = await boss.getDb().executeSql(text, []);
      if (result === undefined) throw new Error('The job engine is not started: its database connection is not open.');
      return result;
    },
    connect: async () => {
      const own = pool();
      return own?.connect === undefined ? null : own.connect();
    },
  };
}

type BossComplete = (name: string, ids: string[], data: null, options: { db: PgBoss.Db }) => Promise<unknown>;

/** pg-boss's connection: its own pool for a connection string, else the host's, shut when the engine stops. */
function bossConnection(database: EngineDatabase): { readonly connection: PgBoss.ConstructorOptions; readonly hostConnection?: ShuttableBossDatabase } {
  if ('connectionString' in database) return { connection: { connectionString: database.connectionString, max: database.max ?? 10 } };
  const hostConnection = shuttableBossDatabase('pglite' in database ? pgliteBossDatabase(database.pglite) : poolBossDatabase(database.pool));
  return { connection: { db: hostConnection.db as PgBoss.Db }, hostConnection };
}

/** Options of {@link installJobEngine}. */
export interface InstallJobEngineOptions {
  readonly schema?: string;
  /** The plain role product transactions run as: it may enqueue (insert) pg-boss jobs, nothing more. Default `dm_app`; null for none. */
  readonly appRole?: string | null;
}

/**
 * Creates pg-boss's schema and the engine's queues, idempotently; run it
 * after the product's migrations (the server's `migrateAll` does). A newer
 * pg-boss schema than this package's is left alone.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function installJobEngine(db: Kysely<any>, options: InstallJobEngineOptions = {}): Promise<void> {
  const schema = options.schema ?? 'pgboss';
  // Processes starting together on an empty database would each see no schema and each create it
  // (the loser fails on `type "job_state" already exists`): one session lock serialises the install.
  await db.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(hashtext(${`data-machine:install-job-engine:${schema}`}))`.execute(connection);
    try {
      const installed = await sql<{ name: string | null }>`select to_regclass(${`${schema}.version`})::text as name`.execute(connection);
      if (installed.rows[0]?.name == null) await kyselyBossDatabase(connection).executeSql(PgBoss.getConstructionPlans(schema));
      for (const name of Object.values(engineQueues)) {
        await sql`select ${sql.id(schema, 'create_queue')}(${name}, ${JSON.stringify({ policy: 'standard' })}::json)`.execute(connection);
      }
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${`data-machine:install-job-engine:${schema}`}))`.execute(connection);
    }
  });
  const role = options.appRole === undefined ? appRole : options.appRole;
  if (role !== null) {
    // Product transactions run as the app role; enqueueing in them inserts into pg-boss's job table.
    await sql`grant usage on schema ${sql.id(schema)} to ${sql.id(role)}`.execute(db);
    await sql`grant select on ${sql.id(schema, 'queue')} to ${sql.id(role)}`.execute(db);
    await sql`grant select, insert on ${sql.id(schema, 'job')} to ${sql.id(role)}`.execute(db);
  }
}
