import { createTestDatabase, type DatabaseBackend, type TestDatabase } from '@data-machine/testkit';
import { createBearerAccessCache, createDataMachineContext, createMemoryPromptCache, createTenant, createUser, createUserToken, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import { sql, type Kysely } from 'kysely';
import { changeFeeds, listenForChanges } from '../src/database/change-feed-listener';
import { migrateAll } from '../src/database/migrate';
import type { AppDatabase } from '../src/http/app-database';
import { changeFeedSourceOf, recordChanges } from '../test/support/change-feed-recorder';

/** A migrated database with one user, their tenant and a personal token, and the product's context on it with the change-fed caches listening. */
export interface BenchDatabase {
  readonly database: TestDatabase;
  readonly db: Kysely<DataMachineDatabase>;
  /** What `buildApp` takes as its database. */
  readonly appDatabase: AppDatabase;
  readonly context: DataMachineContext;
  /** The user's personal token. */
  readonly secret: string;
  /** Stops the listener and destroys the database. */
  close(): Promise<void>;
}

/** Sets up {@link BenchDatabase} on `backend`, its user and tenant named after `name`. */
export async function createBenchDatabase(backend: DatabaseBackend, name: string): Promise<BenchDatabase> {
  const database = await createTestDatabase(backend);
  const db = database.db as Kysely<DataMachineDatabase>;
  await migrateAll(db);
  // The change-fed caches as `serve` runs them: used once their listener listens (docs/decisions/2026-12-01-access-cache.md).
  const caches = { accessCache: createBearerAccessCache(), memoryPromptCache: createMemoryPromptCache() };
  const changes = recordChanges();
  const listener = listenForChanges({ source: changeFeedSourceOf(database), feeds: changeFeeds(caches), onEvent: changes.onEvent });
  await changes.next((event) => event.kind === 'listening');
  const context = createDataMachineContext({ db, logger: { warn: () => undefined }, ...caches });
  const system = { kind: 'system', channel: 'cli', reason: name } as const;
  const owner = await createUser(context, system, { email: `${name}@example.test`, displayName: name });
  await createTenant(context, system, { slug: name, name, ownerUserId: owner.id });
  const { secret } = await createUserToken(context, system, { label: name, forUserId: owner.id });
  const appDatabase: AppDatabase = { backend, db, ping: async () => (await sql`select 1`.execute(db)).rows.length === 1, close: async () => undefined };
  return {
    database,
    db,
    appDatabase,
    context,
    secret,
    close: async () => {
      await listener.close();
      await database.destroy();
    },
  };
}
