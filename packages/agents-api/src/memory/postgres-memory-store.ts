import { sql, type Kysely } from 'kysely';
import { agentsApiTables, type AgentsApiDatabase } from '../database/agents-api-database';
import { wrapStoreErrors } from '../database/wrap-store-errors';
import {
  memoryConflict,
  memoryContentHash,
  parseMemoryListQuery,
  checkMemoryWrite,
  parseMemoryScope,
  parseMemoryUser,
  type MemoryListEntry,
  type MemoryListQuery,
  type MemoryReadResult,
  type MemoryScope,
  type MemoryStore,
  type MemoryWriteOptions,
  type MemoryWriteResult,
} from './memory-store';

/** Options of {@link createPostgresMemoryStore}. */
export interface PostgresMemoryStoreOptions<Database extends AgentsApiDatabase> {
  /** A database migrated with `migrateAgentsApi`; the host's own tables may sit beside ours. */
  readonly db: Kysely<Database>;
  /** The clock for `updated_at`; defaults to the system clock. */
  readonly now?: () => Date;
}

const primaryKey = ['tenant_key', 'agent_slug', 'layer', 'user_key', 'path'] as const;
const readColumns = ['content', 'content_hash', 'bytes', 'updated_at', 'metadata'] as const;

/** The columns a read returns. */
interface ReadRow {
  readonly content: string;
  readonly content_hash: string;
  readonly bytes: number;
  readonly updated_at: Date;
  readonly metadata: Readonly<Record<string, unknown>>;
}

function toReadResult(row: ReadRow): MemoryReadResult {
  return { exists: true, content: row.content, contentHash: row.content_hash, bytes: row.bytes, updatedAt: row.updated_at, metadata: row.metadata };
}

/** A primary key as one string: its columns' values joined by a character no key may contain. */
function keyText(key: Readonly<Record<(typeof primaryKey)[number], string>>): string {
  return primaryKey.map((column) => key[column]).join('\u0000');
}

/**
 * A {@link MemoryStore} on the `agents_memory_files` table (Postgres or
 * PGlite). Every write is a single statement, so two conditional writes from
 * the same hash can never both win.
 *
 * @example
 * await migrateAgentsApi(db);
 * const store = createPostgresMemoryStore({ db });
 * const scope = { layer: 'agent', tenantId: 'acme', agentSlug: 'helper', userId: null, path: 'MEMORY.md' };
 * const file = await store.read(scope);
 * await store.write(scope, 'Prefers short answers.', { ifMatch: file.exists ? file.contentHash : null });
 */
export function createPostgresMemoryStore<Database extends AgentsApiDatabase>(options: PostgresMemoryStoreOptions<Database>): MemoryStore {
  const db = agentsApiTables(options.db);
  const now = options.now ?? (() => new Date());

  // Driver errors (and any other surprise) become `memory.store_failed`.
  return wrapStoreErrors({
    async read(scope) {
      const parsed = parseMemoryScope(scope);
      const row = await db.selectFrom('agents_memory_files').select(readColumns).where((eb) => eb.and(fileKey(parsed))).executeTakeFirst();
      return row === undefined ? { exists: false } : toReadResult(row);
    },

    async readMany(scopes) {
      const parsed = scopes.map(parseMemoryScope);
      if (parsed.length === 0) return [];
      // One query for every file (see docs/decisions/2026-12-01-request-path-speed.md), matched back by primary key.
      const rows = await db
        .selectFrom('agents_memory_files')
        .select([...primaryKey, ...readColumns])
        .where((eb) => eb.or(parsed.map((scope) => eb.and(fileKey(scope)))))
        .execute();
      const found = new Map(rows.map((row) => [keyText(row), row]));
      return parsed.map((scope) => {
        const row = found.get(keyText(fileKey(scope)));
        return row === undefined ? { exists: false } : toReadResult(row);
      });
    },

    async write(scope, content, writeOptions = {}) {
      const parsed = parseMemoryScope(scope);
      const bytes = checkMemoryWrite(content, writeOptions);
      const file: FileValues = {
        content,
        content_hash: memoryContentHash(content),
        bytes,
        updated_at: new Date(now().getTime()),
      };
      const created = await writeFile(db, parsed, file, writeOptions);
      return { contentHash: file.content_hash, bytes: file.bytes, updatedAt: file.updated_at, created } satisfies MemoryWriteResult;
    },

    async delete(scope) {
      const parsed = parseMemoryScope(scope);
      const result = await db
        .deleteFrom('agents_memory_files')
        .where((eb) => eb.and(fileKey(parsed)))
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async list(query) {
      return listFiles(db, parseMemoryListQuery(query));
    },

    async deleteUserData(tenantId, userId) {
      const user = parseMemoryUser(tenantId, userId);
      // Served by agents_memory_files_user_idx (tenant_key, user_key).
      const result = await db
        .deleteFrom('agents_memory_files')
        .where('tenant_key', '=', user.tenantId ?? '')
        .where('user_key', '=', user.userId)
        .executeTakeFirst();
      return { files: Number(result.numDeletedRows) };
    },
  }, 'memory.store_failed', 'Postgres memory store');
}

interface FileValues {
  readonly content: string;
  readonly content_hash: string;
  readonly bytes: number;
  readonly updated_at: Date;
}

/** Runs the one statement that fits `ifMatch`; resolves to whether the file was created. */
async function writeFile(db: Kysely<AgentsApiDatabase>, scope: MemoryScope, file: FileValues, options: MemoryWriteOptions): Promise<boolean> {
  const metadata = options.metadata === undefined ? undefined : JSON.stringify(options.metadata);
  if (options.ifMatch === undefined) return upsert(db, scope, file, metadata);
  const written = options.ifMatch === null ? await insertIfAbsent(db, scope, file, metadata) : await updateIfHash(db, scope, file, metadata, options.ifMatch);
  if (written) return options.ifMatch === null;
  // Read after the failed statement only to explain the conflict; the file may
  // change again in between, but nothing was written, which is what matters.
  throw memoryConflict(scope, options.ifMatch, await currentHash(db, scope));
}

async function upsert(db: Kysely<AgentsApiDatabase>, scope: MemoryScope, file: FileValues, metadata: string | undefined): Promise<boolean> {
  const row = await db
    .insertInto('agents_memory_files')
    .values({ ...fileKey(scope), ...file, metadata: metadata ?? '{}' })
    .onConflict((conflict) =>
      conflict.columns(primaryKey).doUpdateSet({
        content: (eb) => eb.ref('excluded.content'),
        content_hash: (eb) => eb.ref('excluded.content_hash'),
        bytes: (eb) => eb.ref('excluded.bytes'),
        updated_at: (eb) => eb.ref('excluded.updated_at'),
        // Omitted metadata keeps the file's own; a new file gets the '{}' inserted above.
        ...(metadata === undefined ? {} : { metadata }),
      }),
    )
    // A freshly inserted row has no deleting or locking transaction yet
    // (xmax = 0); a row the ON CONFLICT branch updated carries ours.
    .returning(sql<boolean>`xmax = 0`.as('created'))
    .executeTakeFirstOrThrow();
  return row.created;
}

async function insertIfAbsent(db: Kysely<AgentsApiDatabase>, scope: MemoryScope, file: FileValues, metadata: string | undefined): Promise<boolean> {
  const row = await db
    .insertInto('agents_memory_files')
    .values({ ...fileKey(scope), ...file, metadata: metadata ?? '{}' })
    .onConflict((conflict) => conflict.columns(primaryKey).doNothing())
    .returning('path')
    .executeTakeFirst();
  return row !== undefined;
}

async function updateIfHash(
  db: Kysely<AgentsApiDatabase>,
  scope: MemoryScope,
  file: FileValues,
  metadata: string | undefined,
  expectedHash: string,
): Promise<boolean> {
  // Under READ COMMITTED a concurrent UPDATE of the same row waits for the
  // first to commit and re-checks the WHERE on the new row, so only one of two
  // writers holding the same hash matches.
  const row = await db
    .updateTable('agents_memory_files')
    .set({ ...file, ...(metadata === undefined ? {} : { metadata }) })
    .where((eb) => eb.and(fileKey(scope)))
    .where('content_hash', '=', expectedHash)
    .returning('path')
    .executeTakeFirst();
  return row !== undefined;
}

async function currentHash(db: Kysely<AgentsApiDatabase>, scope: MemoryScope): Promise<string | null> {
  const row = await db
    .selectFrom('agents_memory_files')
    .select('content_hash')
    .where((eb) => eb.and(fileKey(scope)))
    .executeTakeFirst();
  return row?.content_hash ?? null;
}

async function listFiles(db: Kysely<AgentsApiDatabase>, query: MemoryListQuery): Promise<readonly MemoryListEntry[]> {
  const { under } = query;
  let select = db
    .selectFrom('agents_memory_files')
    .select(['path', 'content_hash', 'bytes', 'updated_at'])
    .where((eb) => eb.and(layerKey(query)));
  if (under !== undefined) {
    // starts_with rather than LIKE: `%`, `_` and `\` in a path are plain characters.
    select = select.where((eb) => eb.or([eb('path', '=', under), eb.fn<boolean>('starts_with', [eb.ref('path'), eb.val(`${under}/`)])]));
  }
  // "C" orders by byte, which for UTF-8 is by code point: the same order
  // everywhere whatever the database's locale, and the in-memory store's.
  const rows = await select.orderBy(sql`path collate "C"`).execute();
  return rows.map((row) => ({ path: row.path, contentHash: row.content_hash, bytes: row.bytes, updatedAt: row.updated_at }));
}

/** The columns naming one layer of one agent and user; `''` stands for no tenant, no user. */
function layerKey(query: Pick<MemoryScope, 'layer' | 'tenantId' | 'agentSlug' | 'userId'>) {
  return { tenant_key: query.tenantId ?? '', agent_slug: query.agentSlug, layer: query.layer, user_key: query.userId ?? '' };
}

/** The primary key of one file. */
function fileKey(scope: MemoryScope) {
  return { ...layerKey(scope), path: scope.path };
}
