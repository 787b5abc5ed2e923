import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { availableBackends, createTestDatabase, type DatabaseBackend, type DatabaseTemplate, type TestDatabase } from './test-database';

/** What a suite of {@link describeEachDatabase} sees. */
export interface DatabaseSuiteContext<Database> {
  readonly backend: DatabaseBackend;
  /** The suite's database; read it inside hooks and tests, not while collecting. */
  readonly db: Kysely<Database>;
  /** The full test database, for suites that need its URL or a second connection. */
  readonly database: TestDatabase;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The migrated template a project's global setup made (see `prepareDatabaseTemplate`), if any. */
    databaseTemplate: DatabaseTemplate | undefined;
  }
}

/** Options of {@link describeEachDatabase}. */
export interface DescribeEachDatabaseOptions {
  /**
   * Whether the suite's database is a copy of the project's migrated
   * template, when its global setup provides one (the default); `false`
   * for suites that need an empty database, such as migration tests.
   */
  readonly template?: boolean;
}

/**
 * Runs `suite` once per available backend, each on its own fresh database
 * created before the suite and dropped after it (a copy of the project's
 * migrated template when there is one, see {@link DescribeEachDatabaseOptions}). The backend is part of the
 * suite's name: `transcript store [postgres] keeps ...`.
 *
 * @example
 * await describeEachDatabase<Database>('memory store', (context) => {
 *   it('reads what it wrote', async () => { await context.db.selectFrom('memory').execute(); });
 * });
 */
export async function describeEachDatabase<Database = unknown>(
  name: string,
  suite: (context: DatabaseSuiteContext<Database>) => void,
  options: DescribeEachDatabaseOptions = {},
): Promise<void> {
  const template = options.template === false ? undefined : inject('databaseTemplate');
  for (const backend of await availableBackends()) {
    describe(`${name} [${backend}]`, () => {
      let database: TestDatabase | undefined;
      beforeAll(async () => {
        database = await createTestDatabase(backend, { template });
      });
      afterAll(async () => {
        await database?.destroy();
      });
      const current = (): TestDatabase => {
        if (!database) throw new Error(`${name} [${backend}]: the database is created in beforeAll; read it inside a test`);
        return database;
      };
      suite({
        backend,
        get db() {
          return current().db as Kysely<Database>;
        },
        get database() {
          return current();
        },
      });
    });
  }
}
