import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { withNamedStatements } from '@data-machine/agents-api/postgres';
import { PgliteDialect } from '@data-machine/pglite-dialect';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { EngineDatabase } from 'data-machine';
import type { DatabaseConfig } from '../config/config';
import type { ChangeFeedSource } from './change-feed-listener';

/** The server's database connection. */
export interface ServerDatabase {
  readonly backend: DatabaseConfig['kind'];
  // The server composes packages that each type their own tables.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly db: Kysely<any>;
  /** The same database for the job engine (pg-boss): the PGlite itself, or the same pool. */
  readonly engine: EngineDatabase;
  /** Where the change-fed caches' listener listens: the PGlite itself, or a connection of its own to the same Postgres. */
  readonly changeFeed: ChangeFeedSource;
  /** Answers whether the database responds to a trivial query. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Opens the configured database: PGlite under its data directory, or Postgres through a pool. */
export async function openDatabase(config: DatabaseConfig): Promise<ServerDatabase> {
  let db: Kysely<unknown>;
  let engine: EngineDatabase;
  let changeFeed: ChangeFeedSource;
  if (config.kind === 'pglite') {
    const pglite = await openPglite(config.dataDir);
    db = new Kysely<unknown>({ dialect: new PgliteDialect({ pglite }) });
    engine = { pglite };
    changeFeed = { pglite };
  } else {
    const pool = new pg.Pool({ connectionString: config.url, max: 10 });
    // The transcript store's open and appends go as named statements, parsed once per connection.
    db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: withNamedStatements(pool) }) });
    engine = { pool };
    changeFeed = { connectionString: config.url };
  }
  return {
    backend: config.kind,
    db,
    engine,
    changeFeed,
    ping: async () => {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    close: () => db.destroy(),
  };
}

async function openPglite(dataDir: string): Promise<PGlite> {
  const directory = path.join(dataDir, 'pglite');
  await mkdir(directory, { recursive: true });
  return PGlite.create(directory);
}
