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
import { lockDataDirectory, type DataDirectoryLock } from './data-directory-lock';

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

/**
 * Opens the configured database: PGlite under its data directory, or Postgres
 * through a pool. The embedded database is locked for this process until
 * `close` (`DataDirectoryInUseError` while another process has it open).
 */
export async function openDatabase(config: DatabaseConfig): Promise<ServerDatabase> {
  let db: Kysely<unknown>;
  let engine: EngineDatabase;
  let changeFeed: ChangeFeedSource;
  let lock: DataDirectoryLock | undefined;
  if (config.kind === 'pglite') {
    const opened = await openPglite(config.dataDir);
    const { pglite } = opened;
    lock = opened.lock;
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
    close: async () => {
      try {
        await db.destroy();
      } finally {
        await lock?.release();
      }
    },
  };
}

async function openPglite(dataDir: string): Promise<{ pglite: PGlite; lock: DataDirectoryLock }> {
  const directory = path.join(dataDir, 'pglite');
  await mkdir(directory, { recursive: true });
  // Nothing stops a second PGlite on the same files: the CLI beside a running server would
  // write where the server never reads, or abort inside PGlite. The lock turns that into one line.
  const lock = await lockDataDirectory(path.join(dataDir, 'pglite.lock'), dataDir);
  try {
    return { pglite: await PGlite.create(directory), lock };
  } catch (error) {
    await lock.release();
    throw error;
  }
}
