import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { agentSlugSchema } from '../registry/agent-definition';

/** A layer name: `site`, `agent`, `user`, or a host's own. */
export const memoryLayerSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a layer is 1 to 32 lowercase letters, digits, "_" or "-", starting with a letter');

/**
 * A file path inside a scope: relative, `/`-separated, no empty, `.` or `..`
 * segments, at most 256 characters. `notes/2026/ideas.md` is fine; `../x` is not.
 * (The limits on paths and ids keep the Postgres primary key under its
 * index-row size even when every character takes four bytes.)
 */
export const memoryPathSchema = z
  .string()
  .min(1)
  .max(256)
  .refine((path) => path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..' && !segment.includes('\\')), {
    message: 'a path is relative, "/"-separated, without empty, "." or ".." segments',
  })
  .refine((path) => !/[\u0000-\u001f]/.test(path), { message: 'a path has no control characters' });

const idSchema = z
  .string()
  .min(1)
  .max(128)
  .refine((id) => !/[\u0000-\u001f]/.test(id), { message: 'an id has no control characters' });

/** The largest memory file, in UTF-8 bytes: memory is prompt material, not a blob store. */
export const maxMemoryFileBytes = 1024 * 1024;

/**
 * Where a memory file lives: a tenant (or none), an agent, a layer,
 * optionally a user, and a path. Two scopes that differ in any field name two
 * different files. `tenantId` is the id a session owner and a `Principal`
 * carry; `null` is the files of no tenant (a single-tenant host), and, like
 * `userId: null` (a file of no user), never means "any".
 */
export const memoryScopeSchema = z.object({
  layer: memoryLayerSchema,
  tenantId: idSchema.nullable(),
  agentSlug: agentSlugSchema,
  userId: idSchema.nullable(),
  path: memoryPathSchema,
});
export type MemoryScope = z.infer<typeof memoryScopeSchema>;

/** The files to list: one layer of one agent (and user), optionally only a subtree. */
export const memoryListQuerySchema = z.object({
  layer: memoryLayerSchema,
  tenantId: idSchema.nullable(),
  agentSlug: agentSlugSchema,
  userId: idSchema.nullable(),
  /** Only paths equal to this or below it (`notes` matches `notes/a.md`, not `notes-old.md`). */
  under: memoryPathSchema.optional(),
});
export type MemoryListQuery = z.infer<typeof memoryListQuerySchema>;

/** What a read found. `contentHash` is the SHA-256 of the content, hex; pass it as `ifMatch`. */
export type MemoryReadResult =
  | { readonly exists: false }
  | {
      readonly exists: true;
      readonly content: string;
      readonly contentHash: string;
      /** UTF-8 length of the content. */
      readonly bytes: number;
      readonly updatedAt: Date;
      readonly metadata: Readonly<Record<string, unknown>>;
    };

/** Options of {@link MemoryStore.write}. */
export interface MemoryWriteOptions {
  /**
   * Write only if the file's current hash is this; `null` means "only if the
   * file does not exist". On a mismatch nothing is written and the store
   * throws `memory.conflict`. Omit to write unconditionally.
   */
  readonly ifMatch?: string | null;
  /** Replaces the file's metadata; omitted, the file keeps what it had (or `{}`). */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** What a write stored. */
export interface MemoryWriteResult {
  readonly contentHash: string;
  readonly bytes: number;
  readonly updatedAt: Date;
  /** Whether the file did not exist before. */
  readonly created: boolean;
}

/** One file in a listing, without its content. */
export interface MemoryListEntry {
  readonly path: string;
  readonly contentHash: string;
  readonly bytes: number;
  readonly updatedAt: Date;
}

/** What {@link MemoryStore.deleteUserData} removed. */
export interface DeletedMemoryUserData {
  readonly files: number;
}

/**
 * Where agents keep what they know: small text files addressed by
 * {@link MemoryScope}. Every method validates its scope and throws
 * `memory.invalid_scope` for a bad one.
 */
export interface MemoryStore {
  read(scope: MemoryScope): Promise<MemoryReadResult>;
  /**
   * Reads several files at once: one result per scope, in the scopes' order,
   * each as {@link MemoryStore.read} gives it. Optional: a store that can
   * read them in one query offers it (`composeMemoryPrompt` uses it when
   * present, and `read` for each file otherwise).
   */
  readMany?(scopes: readonly MemoryScope[]): Promise<readonly MemoryReadResult[]>;
  /** Creates or replaces a file; `memory.conflict` when `ifMatch` does not hold. */
  write(scope: MemoryScope, content: string, options?: MemoryWriteOptions): Promise<MemoryWriteResult>;
  /** Removes a file; deleting a missing file is not an error. Resolves to whether one was removed. */
  delete(scope: MemoryScope): Promise<boolean>;
  /** The files of one layer (or one subtree of it), ordered by path (by Unicode code point, as Postgres's "C" collation orders). */
  list(query: MemoryListQuery): Promise<readonly MemoryListEntry[]>;
  /**
   * Deletes every file of user `userId` in tenant `tenantId` (null: no
   * tenant), of every agent and layer; files of no user are left alone.
   */
  deleteUserData(tenantId: string | null, userId: string): Promise<DeletedMemoryUserData>;
}

/** The hash stores put in `contentHash`: SHA-256 of the UTF-8 content, hex. */
export function memoryContentHash(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

/** Validates a scope for a store; throws `memory.invalid_scope` naming the problems. */
export function parseMemoryScope(scope: unknown): MemoryScope {
  return parseOrThrow(memoryScopeSchema, scope, 'memory scope');
}

/** Validates the arguments of {@link MemoryStore.deleteUserData}; throws `memory.invalid_scope`. */
export function parseMemoryUser(tenantId: unknown, userId: unknown): { readonly tenantId: string | null; readonly userId: string } {
  return parseOrThrow(memoryUserSchema, { tenantId, userId }, 'memory user');
}

const memoryUserSchema = z.object({ tenantId: idSchema.nullable(), userId: idSchema });

/** Validates a list query for a store; throws `memory.invalid_scope`. */
export function parseMemoryListQuery(query: unknown): MemoryListQuery {
  return parseOrThrow(memoryListQuerySchema, query, 'memory list query');
}

/**
 * Checks what a write stores: content is a string without NUL characters
 * (Postgres text cannot hold them) of at most {@link maxMemoryFileBytes};
 * metadata is a plain JSON object. Throws `memory.invalid_content`; returns
 * the content's byte length.
 */
export function checkMemoryWrite(content: unknown, options: MemoryWriteOptions): number {
  if (typeof content !== 'string') throw invalidContent('content must be a string');
  if (content.includes('\u0000')) throw invalidContent('content must not contain NUL characters');
  const bytes = Buffer.byteLength(content, 'utf8');
  if (bytes > maxMemoryFileBytes) throw invalidContent(`content is ${bytes} bytes; the limit is ${maxMemoryFileBytes}`);
  if (options.ifMatch !== undefined && options.ifMatch !== null && !/^[0-9a-f]{64}$/.test(options.ifMatch)) {
    throw invalidContent('ifMatch must be a content hash (64 lowercase hex digits) or null');
  }
  if (options.metadata !== undefined && !isJsonObject(options.metadata)) {
    throw invalidContent('metadata must be a plain JSON object without cycles (strings without NUL, finite numbers, booleans, null, arrays, objects)');
  }
  return bytes;
}

// `ancestors`: the objects on the way down, so that a cycle is refused rather than overflowing the stack.
function isJsonObject(value: unknown, ancestors: object[] = []): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ancestors.includes(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  ancestors.push(value);
  const valid = Object.entries(value).every(([key, child]) => !key.includes('\u0000') && isJsonValue(child, ancestors));
  ancestors.pop();
  return valid;
}

function isJsonValue(value: unknown, ancestors: object[]): boolean {
  if (value === null || typeof value === 'boolean') return true;
  if (typeof value === 'string') return !value.includes('\u0000');
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) {
    if (ancestors.includes(value)) return false;
    ancestors.push(value);
    const valid = value.every((child) => isJsonValue(child, ancestors));
    ancestors.pop();
    return valid;
  }
  return isJsonObject(value, ancestors);
}

function invalidContent(problem: string): AgentsApiError {
  return new AgentsApiError('memory.invalid_content', `Invalid memory write: ${problem}.`, { details: { problem } });
}

/** Whether `path` is `under` or below it. */
export function isMemoryPathUnder(path: string, under: string | undefined): boolean {
  return under === undefined || path === under || path.startsWith(`${under}/`);
}

/** The error a store throws when `ifMatch` does not hold. */
export function memoryConflict(scope: MemoryScope, expected: string | null, actual: string | null): AgentsApiError {
  const wanted = expected === null ? 'no file' : `hash ${expected}`;
  const found = actual === null ? 'no file' : `hash ${actual}`;
  return new AgentsApiError('memory.conflict', `Memory file "${scope.path}" changed: expected ${wanted}, found ${found}; nothing was written.`, {
    details: { tenantId: scope.tenantId, agentSlug: scope.agentSlug, userId: scope.userId, layer: scope.layer, path: scope.path, expected, actual },
  });
}

function parseOrThrow<Schema extends z.ZodType>(schema: Schema, value: unknown, what: string): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new AgentsApiError('memory.invalid_scope', `Invalid ${what}: ${z.prettifyError(parsed.error)}`, {
    details: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) },
  });
}
