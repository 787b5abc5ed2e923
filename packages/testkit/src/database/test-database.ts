import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { PgliteDialect } from '@data-machine/pglite-dialect';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { loadDataDir, preparedPgliteDataDir } from './pglite-data-dir';

/** The backends every database test runs on. */
export type DatabaseBackend = 'pglite' | 'postgres';

/**
 * A migrated database to copy test databases from, made once per test run:
 * a PGlite data directory dumped after the migrations, and, when Postgres
 * answers, a Postgres database to `CREATE DATABASE ... TEMPLATE`. Copying is
 * much cheaper than migrating (a migration set is hundreds of DDL statements,
 * seconds on a busy machine). Made fresh each run, so an edited migration is
 * never served stale.
 */
export interface DatabaseTemplate {
  readonly name: string;
  /** The dumped PGlite data directory (a tarball for `PGlite.create({ loadDataDir })`). */
  readonly pgliteDataDir: string;
  /** The Postgres template database, or null when Postgres is not reachable. */
  readonly postgresDatabase: string | null;
}

/** A fresh, isolated database, dropped by {@link TestDatabase.destroy}. */
export interface TestDatabase {
  readonly backend: DatabaseBackend;
  // Each suite narrows it to its own schema type with `as Kysely<Database>`.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly db: Kysely<any>;
  /** Connection string of the created database (Postgres only). */
  readonly url: string | undefined;
  /** The embedded database itself (PGlite only), for clients that take it directly (pg-boss through its `db` option). */
  readonly pglite: PGlite | undefined;
  destroy(): Promise<void>;
}

/** Where test databases are created on Postgres; each gets a new database there. */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Options of {@link createTestDatabase}. */
export interface TestDatabaseOptions {
  /** Copy this migrated template instead of starting empty (see `prepareDatabaseTemplate`). */
  readonly template?: DatabaseTemplate | undefined;
}

/**
 * Creates a fresh database on `backend`: an in-memory PGlite, or a new
 * uniquely named database on the Postgres server of `TEST_DATABASE_URL`, so
 * parallel and repeated runs never collide. A PGlite starts from the prepared
 * empty data directory (see `preparePgliteDataDir`), not from initdb; with a
 * `template`, both backends start as a copy of the migrated template.
 */
export async function createTestDatabase(backend: DatabaseBackend, options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  return backend === 'pglite' ? createPgliteDatabase(options.template) : createPostgresDatabase(options.template);
}

async function createPgliteDatabase(template: DatabaseTemplate | undefined): Promise<TestDatabase> {
  // Loading an initialised cluster skips initdb, the slow part of a fresh
  // PGlite: about 1 s instead of 4 to 7 s on a busy 2-core machine.
  const pglite = await PGlite.create({ loadDataDir: template ? await loadDataDir(template.pgliteDataDir) : await preparedPgliteDataDir() });
  const db = new Kysely<unknown>({ dialect: new PgliteDialect({ pglite }) });
  return { backend: 'pglite', db, url: undefined, pglite, destroy: () => db.destroy() };
}

async function createPostgresDatabase(template: DatabaseTemplate | undefined): Promise<TestDatabase> {
  const name = `dm_test_${Date.now().toString(36)}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const source = template?.postgresDatabase ?? null;
  await withAdmin((admin) =>
    (source === null ? sql`create database ${sql.id(name)}` : sql`create database ${sql.id(name)} template ${sql.id(source)}`).execute(admin),
  );
  const url = withDatabaseName(testDatabaseUrl, name);
  const db = connect(url);
  return {
    backend: 'postgres',
    db,
    url,
    pglite: undefined,
    async destroy() {
      await db.destroy();
      await withAdmin((admin) => sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin));
    },
  };
}

/** A kysely on the Postgres database at `url`. */
export function connect(url: string): Kysely<unknown> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // `pool.end()` can resolve while a connection is still closing; a forced
  // drop then terminates it (57P01), and pg reports that as an 'error'
  // event on the pool, an uncaught exception without a listener.
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') console.warn(`[testkit] ${url}: idle connection failed: ${error.message}`);
  });
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
}

/** Runs `work` with a connection to the server's maintenance database. */
export async function withAdmin<T>(work: (admin: Kysely<unknown>) => Promise<T>): Promise<T> {
  const admin = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: testDatabaseUrl, max: 1 }) }),
  });
  try {
    return await work(admin);
  } finally {
    await admin.destroy();
  }
}

/** `url` pointing at another database of the same server. */
export function withDatabaseName(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Whether the Postgres of `TEST_DATABASE_URL` answers. With `CI=true` an
 * unreachable Postgres throws: CI must run every database test on both backends.
 */
export async function probePostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: testDatabaseUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (error) {
    if (process.env.CI === 'true') {
      throw new Error(
        `Postgres at ${testDatabaseUrl} is unreachable and CI=true: database tests must run on PGlite and Postgres (${String(error)})`,
      );
    }
    console.warn(`[testkit] Postgres at ${testDatabaseUrl} is unreachable; database tests run on PGlite only.`);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

let backends: Promise<readonly DatabaseBackend[]> | undefined;

/** The backends reachable in this run: PGlite always, Postgres when it answers (or CI fails). */
export function availableBackends(): Promise<readonly DatabaseBackend[]> {
  backends ??= probePostgres().then((reachable) => (reachable ? ['pglite', 'postgres'] : ['pglite']));
  return backends;
}
