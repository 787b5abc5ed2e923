import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AgentsApiError } from '../errors';
import { codeOf, createTestClock, type TestClock } from '../testing/contract-support';
import { maxMemoryFileBytes, memoryContentHash, type MemoryListQuery, type MemoryScope, type MemoryStore, type MemoryWriteOptions } from './memory-store';

/** What {@link describeMemoryStoreContract} hands to `open` for each test. */
export interface MemoryStoreContractContext {
  /** The test's clock: the store must take `updatedAt` from it. */
  readonly now: () => Date;
}

/**
 * The behaviour every {@link MemoryStore} must have, as a vitest suite.
 * `open` is called once per test; each test works in its own random
 * tenant, so a store backed by one shared database is fine.
 *
 * @example
 * describeMemoryStoreContract('my memory store', ({ now }) => createMyMemoryStore({ now }));
 */
export function describeMemoryStoreContract(name: string, open: (context: MemoryStoreContractContext) => MemoryStore | Promise<MemoryStore>): void {
  describe(name, () => {
    let store: MemoryStore;
    let clock: TestClock;
    let tenantId: string;
    const scope = (overrides: Partial<MemoryScope> = {}): MemoryScope => ({
      layer: 'agent',
      tenantId,
      agentSlug: 'helper',
      userId: null,
      path: 'MEMORY.md',
      ...overrides,
    });
    const query = (overrides: Partial<MemoryListQuery> = {}): MemoryListQuery => ({
      layer: 'agent',
      tenantId,
      agentSlug: 'helper',
      userId: null,
      ...overrides,
    });
    const writeAll = async (paths: readonly string[]): Promise<void> => {
      for (const path of paths) await store.write(scope({ path }), `content of ${path}`);
    };
    const listedPaths = async (overrides: Partial<MemoryListQuery> = {}): Promise<string[]> =>
      (await store.list(query(overrides))).map((entry) => entry.path);

    beforeEach(async () => {
      clock = createTestClock();
      tenantId = randomUUID();
      store = await open({ now: clock.now });
    });

    describe('reading and writing', () => {
      it('reads a missing file as not existing', async () => {
        expect(await store.read(scope())).toEqual({ exists: false });
      });

      it('reads several files at once with readMany, one result per scope in their order, as read gives each', async () => {
        if (store.readMany === undefined) return;
        await store.write(scope({ path: 'a.md' }), 'a', { metadata: { n: 1 } });
        clock.advance(1000);
        await store.write(scope({ layer: 'user', userId: 'u1', path: 'a.md' }), 'user a');
        const scopes = [scope({ path: 'missing.md' }), scope({ layer: 'user', userId: 'u1', path: 'a.md' }), scope({ path: 'a.md' }), scope({ path: 'a.md' }), scope({ layer: 'user', userId: 'u2', path: 'a.md' })];
        const many = await store.readMany(scopes);
        expect(many).toEqual(await Promise.all(scopes.map((each) => store.read(each))));
        expect(many.map((read) => (read.exists ? read.content : null))).toEqual([null, 'user a', 'a', 'a', null]);
        expect(await store.readMany([])).toEqual([]);
      });

      it('refuses a bad scope in readMany with memory.invalid_scope', async () => {
        if (store.readMany === undefined) return;
        await expect(store.readMany([scope(), scope({ path: '../x' })])).rejects.toMatchObject({ code: 'memory.invalid_scope' });
      });

      it('reads back the content, hash, UTF-8 size, clock time and metadata it wrote', async () => {
        const content = 'Grüße, 世界 🌍';
        await store.write(scope(), content, { metadata: { source: 'test', tags: ['a'] } });
        expect(await store.read(scope())).toEqual({
          exists: true,
          content,
          contentHash: memoryContentHash(content),
          bytes: Buffer.byteLength(content, 'utf8'),
          updatedAt: clock.now(),
          metadata: { source: 'test', tags: ['a'] },
        });
      });

      it('reports what a write stored, and that it created the file', async () => {
        const content = 'façade';
        expect(await store.write(scope(), content)).toEqual({
          contentHash: memoryContentHash(content),
          bytes: 7,
          updatedAt: clock.now(),
          created: true,
        });
      });

      it('gives a new file empty metadata when none is given', async () => {
        await store.write(scope(), 'x');
        expect(await store.read(scope())).toMatchObject({ metadata: {} });
      });

      it('keeps an empty file as existing', async () => {
        await store.write(scope(), '');
        expect(await store.read(scope())).toMatchObject({ exists: true, content: '', bytes: 0, contentHash: memoryContentHash('') });
      });

      it('replaces the content on overwrite, reports it as not created and takes the new clock time', async () => {
        await store.write(scope(), 'first');
        clock.advance(60_000);
        const result = await store.write(scope(), 'second');
        expect(result).toMatchObject({ created: false, updatedAt: clock.now() });
        expect(await store.read(scope())).toMatchObject({ content: 'second', updatedAt: clock.now() });
      });

      it('keeps the metadata on overwrite when none is given', async () => {
        await store.write(scope(), 'first', { metadata: { pinned: true } });
        await store.write(scope(), 'second');
        expect(await store.read(scope())).toMatchObject({ metadata: { pinned: true } });
      });

      it('replaces the metadata on overwrite when it is given', async () => {
        await store.write(scope(), 'first', { metadata: { pinned: true } });
        await store.write(scope(), 'second', { metadata: { source: 'edit' } });
        expect(await store.read(scope())).toMatchObject({ metadata: { source: 'edit' } });
      });

      it('reports exactly one of two concurrent writes to a new file as created', async () => {
        const results = await Promise.all([store.write(scope(), 'one'), store.write(scope(), 'two')]);
        expect(results.filter((result) => result.created)).toHaveLength(1);
      });
    });

    describe('conditional writes', () => {
      it('writes when ifMatch is the current hash', async () => {
        const first = await store.write(scope(), 'first');
        const second = await store.write(scope(), 'second', { ifMatch: first.contentHash });
        expect(second.created).toBe(false);
        expect(await store.read(scope())).toMatchObject({ content: 'second' });
      });

      it('rejects a stale ifMatch with memory.conflict, naming both hashes, and leaves the file unchanged', async () => {
        const first = await store.write(scope(), 'first', { metadata: { version: 1 } });
        const second = await store.write(scope(), 'second');
        const error = await store.write(scope(), 'third', { ifMatch: first.contentHash, metadata: { version: 3 } }).catch((caught: unknown) => caught);
        expect(AgentsApiError.isInstance(error)).toBe(true);
        expect(error).toMatchObject({ code: 'memory.conflict', details: { expected: first.contentHash, actual: second.contentHash } });
        expect(await store.read(scope())).toMatchObject({ content: 'second', metadata: { version: 1 } });
      });

      it('rejects an ifMatch hash for a missing file and creates nothing', async () => {
        expect(await codeOf(store.write(scope(), 'x', { ifMatch: memoryContentHash('anything') }))).toBe('memory.conflict');
        expect(await store.read(scope())).toEqual({ exists: false });
      });

      it('creates a file with ifMatch null when it does not exist', async () => {
        const result = await store.write(scope(), 'new', { ifMatch: null });
        expect(result.created).toBe(true);
        expect(await store.read(scope())).toMatchObject({ content: 'new' });
      });

      it('rejects ifMatch null with memory.conflict when the file exists, and leaves it unchanged', async () => {
        await store.write(scope(), 'existing');
        expect(await codeOf(store.write(scope(), 'new', { ifMatch: null }))).toBe('memory.conflict');
        expect(await store.read(scope())).toMatchObject({ content: 'existing' });
      });

      it('lets exactly one of two concurrent writes from the same hash win', async () => {
        const base = await store.write(scope(), 'base');
        const results = await Promise.allSettled([
          store.write(scope(), 'left', { ifMatch: base.contentHash }),
          store.write(scope(), 'right', { ifMatch: base.contentHash }),
        ]);
        const won = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index === 0 ? 'left' : 'right'] : []));
        const lost = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect(lost[0]).toMatchObject({ code: 'memory.conflict' });
        expect(await store.read(scope())).toMatchObject({ content: won[0] });
      });

      it('lets exactly one of two concurrent creates with ifMatch null win', async () => {
        const results = await Promise.allSettled([
          store.write(scope(), 'left', { ifMatch: null }),
          store.write(scope(), 'right', { ifMatch: null }),
        ]);
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        expect(results.filter((result) => result.status === 'rejected')[0]).toMatchObject({ reason: { code: 'memory.conflict' } });
      });
    });

    describe('deleting', () => {
      it('deletes a file idempotently: true the first time, false after', async () => {
        await store.write(scope(), 'x');
        expect(await store.delete(scope())).toBe(true);
        expect(await store.delete(scope())).toBe(false);
        expect(await store.read(scope())).toEqual({ exists: false });
      });

      it('lets ifMatch null create a file again after it was deleted', async () => {
        await store.write(scope(), 'old');
        await store.delete(scope());
        expect((await store.write(scope(), 'new', { ifMatch: null })).created).toBe(true);
      });
    });

    describe('scopes', () => {
      const neighbours: readonly [string, () => Partial<MemoryScope>][] = [
        ['layer', () => ({ layer: 'site' })],
        ['tenant', () => ({ tenantId: randomUUID() })],
        ['tenant (a tenant vs no tenant)', () => ({ tenantId: null })],
        ['agent', () => ({ agentSlug: 'other-agent' })],
        ['user (a user vs no user)', () => ({ userId: 'u1' })],
        ['path', () => ({ path: 'memory.md' })],
      ];

      it.each(neighbours)('keeps files that differ only in %s apart', async (_field, neighbour) => {
        await store.write(scope(), 'mine', { metadata: { owner: 'mine' } });
        const other = scope(neighbour());
        expect(await store.read(other)).toEqual({ exists: false });
        await store.write(other, 'theirs');
        expect(await store.delete(other)).toBe(true);
        expect(await store.read(scope())).toMatchObject({ content: 'mine', metadata: { owner: 'mine' } });
      });

      it('keeps the files of two users apart', async () => {
        await store.write(scope({ layer: 'user', userId: 'u1' }), 'one');
        await store.write(scope({ layer: 'user', userId: 'u2' }), 'two');
        expect(await store.read(scope({ layer: 'user', userId: 'u1' }))).toMatchObject({ content: 'one' });
        expect(await listedPaths({ layer: 'user', userId: 'u2' })).toEqual(['MEMORY.md']);
      });

      const invalid: readonly [string, Partial<MemoryScope>][] = [
        ['an invalid layer', { layer: 'Not A Layer' }],
        ['a path that climbs out', { path: '../x' }],
        ['an absolute path', { path: '/etc/passwd' }],
        ['an empty tenant id', { tenantId: '' }],
        ['an invalid agent slug', { agentSlug: 'Bad_Slug' }],
        ['an empty user id', { userId: '' }],
      ];

      it.each(invalid)('rejects %s with memory.invalid_scope on every method', async (_problem, overrides) => {
        const bad = scope(overrides);
        expect(await codeOf(store.read(bad))).toBe('memory.invalid_scope');
        expect(await codeOf(store.write(bad, 'x'))).toBe('memory.invalid_scope');
        expect(await codeOf(store.delete(bad))).toBe('memory.invalid_scope');
      });

      it('rejects an invalid list query with memory.invalid_scope', async () => {
        expect(await codeOf(store.list(query({ under: 'notes/../..' })))).toBe('memory.invalid_scope');
        expect(await codeOf(store.list(query({ agentSlug: '' })))).toBe('memory.invalid_scope');
      });

      it('rejects ids with control characters and paths longer than 256 characters', async () => {
        expect(await codeOf(store.read(scope({ tenantId: 'a\u0000b' })))).toBe('memory.invalid_scope');
        expect(await codeOf(store.read(scope({ path: 'ü'.repeat(257) })))).toBe('memory.invalid_scope');
      });

      it('stores the longest path of four-byte characters', async () => {
        const path = '🌍'.repeat(128);
        await store.write(scope({ path, tenantId: `${tenantId}${'🌍'.repeat(40)}` }), 'far away');
        expect(await store.read(scope({ path, tenantId: `${tenantId}${'🌍'.repeat(40)}` }))).toMatchObject({ exists: true, content: 'far away' });
      });
    });

    describe('tenant isolation', () => {
      /** The same agent, users and paths in two tenants; returns the other tenant. */
      const twoTenants = async (): Promise<string> => {
        const other = `other-${randomUUID()}`;
        for (const tenant of [tenantId, other]) {
          for (const userId of ['u1', 'u2']) await store.write(scope({ tenantId: tenant, layer: 'user', userId, path: 'USER.md' }), `${userId} in ${tenant}`);
          await store.write(scope({ tenantId: tenant }), `memory of ${tenant}`);
        }
        return other;
      };

      it("never reads or lists another tenant's files", async () => {
        const other = await twoTenants();
        expect(await store.read(scope({ layer: 'user', userId: 'u1', path: 'USER.md' }))).toMatchObject({ content: `u1 in ${tenantId}` });
        expect(await store.read(scope())).toMatchObject({ content: `memory of ${tenantId}` });
        expect(await store.list(query({ layer: 'user', userId: 'u1' }))).toHaveLength(1);
        expect(await store.read(scope({ tenantId: other }))).toMatchObject({ content: `memory of ${other}` });
      });

      it("never deletes another tenant's file", async () => {
        const other = await twoTenants();
        expect(await store.delete(scope())).toBe(true);
        expect(await store.read(scope({ tenantId: other }))).toMatchObject({ exists: true });
      });

      it("deletes one user's files in one tenant only", async () => {
        const other = await twoTenants();
        expect(await store.deleteUserData(tenantId, 'u1')).toEqual({ files: 1 });
        expect(await store.read(scope({ layer: 'user', userId: 'u1', path: 'USER.md' }))).toEqual({ exists: false });
        expect(await store.read(scope({ layer: 'user', userId: 'u2', path: 'USER.md' }))).toMatchObject({ exists: true });
        expect(await store.read(scope({ tenantId: other, layer: 'user', userId: 'u1', path: 'USER.md' }))).toMatchObject({ content: `u1 in ${other}` });
        expect(await store.read(scope())).toMatchObject({ exists: true });
      });
    });

    describe("deleting a user's data", () => {
      it('deletes every file of the user in the tenant, of every agent and layer, and counts them', async () => {
        await store.write(scope({ layer: 'user', userId: 'u1', path: 'USER.md' }), 'a');
        await store.write(scope({ layer: 'user', userId: 'u1', path: 'notes/b.md' }), 'b');
        await store.write(scope({ layer: 'agent', agentSlug: 'writer', userId: 'u1' }), 'c');
        expect(await store.deleteUserData(tenantId, 'u1')).toEqual({ files: 3 });
        expect(await store.list(query({ layer: 'user', userId: 'u1' }))).toEqual([]);
        expect(await store.read(scope({ layer: 'agent', agentSlug: 'writer', userId: 'u1' }))).toEqual({ exists: false });
      });

      it('leaves the files of no user alone', async () => {
        await store.write(scope(), 'shared');
        await store.write(scope({ userId: 'u1' }), 'personal');
        expect(await store.deleteUserData(tenantId, 'u1')).toEqual({ files: 1 });
        expect(await store.read(scope())).toMatchObject({ content: 'shared' });
      });

      it('deletes for a null tenant only the files of no tenant', async () => {
        // A user of this test's own: files of no tenant are shared by every test on one database.
        const userId = `u-${randomUUID()}`;
        await store.write(scope({ tenantId: null, userId }), 'no tenant');
        await store.write(scope({ userId }), 'in the tenant');
        expect(await store.deleteUserData(null, userId)).toEqual({ files: 1 });
        expect(await store.read(scope({ userId }))).toMatchObject({ content: 'in the tenant' });
      });

      it('resolves 0 when the user has no files', async () => {
        expect(await store.deleteUserData(tenantId, 'nobody')).toEqual({ files: 0 });
      });

      it('rejects a null user, an empty user id and an empty tenant id with memory.invalid_scope', async () => {
        // @ts-expect-error a user id is a string
        expect(await codeOf(store.deleteUserData(tenantId, null))).toBe('memory.invalid_scope');
        expect(await codeOf(store.deleteUserData(tenantId, ''))).toBe('memory.invalid_scope');
        expect(await codeOf(store.deleteUserData('', 'u1'))).toBe('memory.invalid_scope');
      });
    });

    describe('what a write may store', () => {
      const invalidWrites: readonly [string, unknown, MemoryWriteOptions][] = [
        ['content with a NUL character', 'a\u0000b', {}],
        ['content that is not a string', 42, {}],
        ['content over the size limit', 'x'.repeat(maxMemoryFileBytes + 1), {}],
        ['metadata that is not plain JSON', 'x', { metadata: { at: new Date() } }],
        ['metadata with a number JSON cannot hold', 'x', { metadata: { n: Number.NaN } }],
        ['an ifMatch that is not a content hash', 'x', { ifMatch: 'abc' }],
      ];

      it.each(invalidWrites)('rejects %s with memory.invalid_content and writes nothing', async (_problem, content, options) => {
        expect(await codeOf(store.write(scope(), content as string, options))).toBe('memory.invalid_content');
        expect(await store.read(scope())).toEqual({ exists: false });
      });
    });

    // JSON cannot hold a BigInt, a cycle or a function, and Postgres cannot hold U+0000 in a key:
    // every store refuses them with the same code, rather than with a raw TypeError or a stack overflow.
    describe('metadata no store can keep', () => {
      const circular = (): Record<string, unknown> => {
        const value: Record<string, unknown> = { name: 'loop' };
        value.self = value;
        return value;
      };
      const circularList = (): unknown[] => {
        const list: unknown[] = [];
        list.push(list);
        return list;
      };
      const unstorable: readonly [string, () => Record<string, unknown>][] = [
        ['a BigInt', () => ({ id: 10n })],
        ['a circular object', () => ({ node: circular() })],
        ['a circular array', () => ({ list: circularList() })],
        ['a function', () => ({ callback: () => 'lost' })],
        ['a NUL in a key', () => ({ 'a\u0000b': 1 })],
      ];

      it.each(unstorable)('rejects metadata with %s with memory.invalid_content and writes nothing', async (_problem, metadata) => {
        expect(await codeOf(store.write(scope(), 'x', { metadata: metadata() }))).toBe('memory.invalid_content');
        expect(await store.read(scope())).toEqual({ exists: false });
      });

      it('keeps metadata that holds the same object twice side by side', async () => {
        const shared = { tag: 'same' };
        await store.write(scope(), 'x', { metadata: { first: shared, second: shared } });
        expect(await store.read(scope())).toMatchObject({ metadata: { first: { tag: 'same' }, second: { tag: 'same' } } });
      });
    });

    describe('listing', () => {
      it('lists the files of one layer ordered by path, with their hash, size and time', async () => {
        await writeAll(['b.md', 'a/z.md', 'B.md', 'a.md']);
        await store.write(scope({ layer: 'site', path: 'site.md' }), 'elsewhere');
        await store.write(scope({ userId: 'u1', path: 'user.md' }), 'elsewhere');
        const entries = await store.list(query());
        expect(entries.map((entry) => entry.path)).toEqual(['B.md', 'a.md', 'a/z.md', 'b.md']);
        expect(entries[0]).toEqual({
          path: 'B.md',
          contentHash: memoryContentHash('content of B.md'),
          bytes: Buffer.byteLength('content of B.md'),
          updatedAt: clock.now(),
        });
      });

      it('orders paths by code point, the same in every store', async () => {
        // U+FF5E is above every surrogate code unit; U+1F30D is above U+FF5E only as a code point.
        await writeAll(['\u{1F30D}.md', '\uFF5E.md', 'z.md']);
        expect(await listedPaths()).toEqual(['z.md', '\uFF5E.md', '\u{1F30D}.md']);
      });

      it('lists nothing for a layer without files', async () => {
        expect(await store.list(query({ layer: 'empty' }))).toEqual([]);
      });

      it('lists a subtree: the path itself and what is below it, not siblings sharing its prefix', async () => {
        await writeAll(['notes', 'notes/a.md', 'notes/deep/b.md', 'notes-old.md', 'notesx/c.md', 'other.md']);
        expect(await listedPaths({ under: 'notes' })).toEqual(['notes', 'notes/a.md', 'notes/deep/b.md']);
      });

      it('treats "%" and "_" in a subtree name as plain characters', async () => {
        await writeAll(['50%/a.md', '50x/b.md', '50%x/c.md', 'a_b/d.md', 'axb/e.md']);
        expect(await listedPaths({ under: '50%' })).toEqual(['50%/a.md']);
        expect(await listedPaths({ under: 'a_b' })).toEqual(['a_b/d.md']);
      });
    });

    describe('isolation of returned values', () => {
      it('is not changed by mutating what a read returned', async () => {
        await store.write(scope(), 'x', { metadata: { list: [1] } });
        const read = await store.read(scope());
        if (!read.exists) throw new Error('expected the file to exist');
        (read.metadata as { list: number[] }).list.push(2);
        (read.metadata as Record<string, unknown>).added = true;
        read.updatedAt.setTime(0);
        expect(await store.read(scope())).toMatchObject({ metadata: { list: [1] }, updatedAt: clock.now() });
        expect(await store.read(scope())).not.toHaveProperty('metadata.added');
      });

      it('is not changed by mutating the metadata object after writing it', async () => {
        const metadata = { list: [1] };
        await store.write(scope(), 'x', { metadata });
        metadata.list.push(2);
        expect(await store.read(scope())).toMatchObject({ metadata: { list: [1] } });
      });

      it('is not changed by mutating what a write or a list returned', async () => {
        const written = await store.write(scope(), 'x');
        written.updatedAt.setTime(0);
        const [entry] = await store.list(query());
        entry?.updatedAt.setTime(0);
        expect((await store.list(query()))[0]?.updatedAt).toEqual(clock.now());
      });
    });
  });
}
