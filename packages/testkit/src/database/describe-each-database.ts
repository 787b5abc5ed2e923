import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe } from 'vitest';
import { createTestDatabase, probePostgres, type DatabaseBackend, type TestDatabase } from './test-database';

let backends: Promise<readonly DatabaseBackend[]> | undefined;

/** The backends reachable in this run: PGlite always, Postgres when it answers (or CI fails). */
export function availableBackends(): Promise<readonly DatabaseBackend[]> {
  backends ??= probePostgres().then((reachable) => (reachable ? ['pglite', 'postgres'] : ['pglite']));
  return backends;
}

/** What a suite of {@link describeEachDatabase} sees. */
export interface DatabaseSuiteContext<Database> {
  readonly backend: DatabaseBackend;
  /** The suite's database; read it inside hooks and tests, not while collecting. */
  readonly db: Kysely<Database>;
  /** The full test database, for suites that need its URL or a second connection. */
  readonly database: TestDatabase;
}

/**
 * Runs `suite` once per available backend, each on its own fresh database
 * created before the suite and dropped after it. The backend is part of the
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
): Promise<void> {
  for (const backend of await availableBackends()) {
    describe(`${name} [${backend}]`, () => {
      let database: TestDatabase | undefined;
      beforeAll(async () => {
        database = await createTestDatabase(backend);
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
