import { wrapStoreErrors } from '../database/wrap-store-errors';
import {
  isMemoryPathUnder,
  memoryConflict,
  memoryContentHash,
  parseMemoryListQuery,
  checkMemoryWrite,
  parseMemoryScope,
  parseMemoryUser,
  type MemoryListEntry,
  type MemoryReadResult,
  type MemoryScope,
  type MemoryStore,
  type MemoryWriteOptions,
  type MemoryWriteResult,
} from './memory-store';

/** Options of {@link createInMemoryMemoryStore}. */
export interface InMemoryMemoryStoreOptions {
  /** The clock for `updatedAt`; defaults to the system clock. */
  readonly now?: () => Date;
}

interface StoredFile {
  readonly scope: MemoryScope;
  readonly content: string;
  readonly contentHash: string;
  readonly bytes: number;
  readonly updatedAt: Date;
  readonly metadata: Record<string, unknown>;
}

/**
 * A {@link MemoryStore} kept in a Map: for tests, demos and single-process
 * hosts that do not need memory to outlive the process.
 *
 * @example
 * const store = createInMemoryMemoryStore();
 * const scope = { layer: 'agent', tenantId: 'acme', agentSlug: 'helper', userId: null, path: 'MEMORY.md' };
 * await store.write(scope, 'Prefers short answers.');
 * const file = await store.read(scope); // { exists: true, content: 'Prefers short answers.', … }
 */
export function createInMemoryMemoryStore(options: InMemoryMemoryStoreOptions = {}): MemoryStore {
  const now = options.now ?? (() => new Date());
  const files = new Map<string, StoredFile>();

  // Every method is async and does its work before its first await, so each
  // call sees and changes the Map as one step: a check-then-write can never
  // interleave with another call, just as the Postgres store's single statements.
  // Driver errors (and any other surprise) become `memory.store_failed`.
  return wrapStoreErrors({
    async read(scope) {
      const stored = files.get(fileKey(parseMemoryScope(scope)));
      return stored === undefined ? { exists: false } : toReadResult(stored);
    },

    async readMany(scopes) {
      return scopes.map(parseMemoryScope).map((parsed) => {
        const stored = files.get(fileKey(parsed));
        return stored === undefined ? { exists: false } : toReadResult(stored);
      });
    },

    async write(scope, content, writeOptions = {}) {
      const parsed = parseMemoryScope(scope);
      const bytes = checkMemoryWrite(content, writeOptions);
      const key = fileKey(parsed);
      const current = files.get(key);
      checkIfMatch(parsed, writeOptions, current);
      const stored: StoredFile = {
        scope: parsed,
        content,
        contentHash: memoryContentHash(content),
        bytes,
        updatedAt: new Date(now().getTime()),
        metadata: writeOptions.metadata === undefined ? (current?.metadata ?? {}) : cloneJson(writeOptions.metadata),
      };
      files.set(key, stored);
      return toWriteResult(stored, current === undefined);
    },

    async delete(scope) {
      return files.delete(fileKey(parseMemoryScope(scope)));
    },

    async list(query) {
      const parsed = parseMemoryListQuery(query);
      const entries: MemoryListEntry[] = [];
      for (const stored of files.values()) {
        const { scope } = stored;
        const sameLayer =
          scope.layer === parsed.layer &&
          scope.tenantId === parsed.tenantId &&
          scope.agentSlug === parsed.agentSlug &&
          scope.userId === parsed.userId;
        if (sameLayer && isMemoryPathUnder(scope.path, parsed.under)) entries.push(toListEntry(stored));
      }
      return entries.sort((left, right) => compareCodePoints(left.path, right.path));
    },

    async deleteUserData(tenantId, userId) {
      const user = parseMemoryUser(tenantId, userId);
      let deleted = 0;
      for (const [key, stored] of files) {
        if (stored.scope.tenantId !== user.tenantId || stored.scope.userId !== user.userId) continue;
        files.delete(key);
        deleted += 1;
      }
      return { files: deleted };
    },
  }, 'memory.store_failed', 'in-memory memory store');
}

/** Throws `memory.conflict` when `ifMatch` is given and does not hold for `current`. */
function checkIfMatch(scope: MemoryScope, options: MemoryWriteOptions, current: StoredFile | undefined): void {
  if (options.ifMatch === undefined) return;
  const actual = current?.contentHash ?? null;
  if (actual !== options.ifMatch) throw memoryConflict(scope, options.ifMatch, actual);
}

// JSON of an array cannot collide the way joined strings can (`a/b` + `c` vs `a` + `b/c`).
function fileKey(scope: MemoryScope): string {
  return JSON.stringify([scope.tenantId, scope.agentSlug, scope.layer, scope.userId, scope.path]);
}

// Orders as Postgres `COLLATE "C"` does on UTF-8: by code point. A plain `<`
// compares UTF-16 code units, which puts astral characters (surrogates
// D800–DFFF) before U+E000–U+FFFF, unlike the database.
function compareCodePoints(left: string, right: string): number {
  const leftPoints = Array.from(left);
  const rightPoints = Array.from(right);
  const length = Math.min(leftPoints.length, rightPoints.length);
  for (let index = 0; index < length; index += 1) {
    const difference = (leftPoints[index]?.codePointAt(0) ?? 0) - (rightPoints[index]?.codePointAt(0) ?? 0);
    if (difference !== 0) return difference;
  }
  return leftPoints.length - rightPoints.length;
}

/**
 * A deep copy through JSON, which is what the Postgres store's jsonb column
 * keeps: `undefined` fields vanish and a Date becomes a string in both stores,
 * and no caller can reach stored state through a shared reference.
 */
function cloneJson(value: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

function toReadResult(stored: StoredFile): MemoryReadResult {
  return {
    exists: true,
    content: stored.content,
    contentHash: stored.contentHash,
    bytes: stored.bytes,
    updatedAt: new Date(stored.updatedAt.getTime()),
    metadata: cloneJson(stored.metadata),
  };
}

function toWriteResult(stored: StoredFile, created: boolean): MemoryWriteResult {
  return { contentHash: stored.contentHash, bytes: stored.bytes, updatedAt: new Date(stored.updatedAt.getTime()), created };
}

function toListEntry(stored: StoredFile): MemoryListEntry {
  return {
    path: stored.scope.path,
    contentHash: stored.contentHash,
    bytes: stored.bytes,
    updatedAt: new Date(stored.updatedAt.getTime()),
  };
}
