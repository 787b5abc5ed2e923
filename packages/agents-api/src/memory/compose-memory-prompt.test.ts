import { beforeEach, describe, expect, it } from 'vitest';
import { AgentsApiError } from '../errors';
import { composeMemoryPrompt, defaultMemoryPromptFiles, type MemoryPromptTarget } from './compose-memory-prompt';
import { createInMemoryMemoryStore } from './in-memory-memory-store';
import type { MemoryStore } from './memory-store';

const target: MemoryPromptTarget = { tenantId: 'site-1', agentSlug: 'helper', userId: 'u1' };
const noUser: MemoryPromptTarget = { ...target, userId: null };

describe('composeMemoryPrompt', () => {
  let store: MemoryStore;
  const write = (layer: string, path: string, content: string, userId: string | null = null) =>
    store.write({ layer, tenantId: target.tenantId, agentSlug: target.agentSlug, userId, path }, content);

  beforeEach(() => {
    store = createInMemoryMemoryStore();
  });

  it('composes the default files in priority order, whatever order they were written in', async () => {
    await write('agent', 'MEMORY.md', 'memory');
    await write('user', 'USER.md', 'user', 'u1');
    await write('agent', 'SOUL.md', 'soul');
    await write('site', 'RULES.md', 'rules');
    await write('site', 'SITE.md', 'site');
    const composed = await composeMemoryPrompt(store, target);
    expect(composed.included.map((file) => file.path)).toEqual(['SITE.md', 'RULES.md', 'SOUL.md', 'USER.md', 'MEMORY.md']);
    expect(composed.prompt).toBe(
      '## SITE.md\n\nsite\n\n## RULES.md\n\nrules\n\n## SOUL.md\n\nsoul\n\n## USER.md\n\nuser\n\n## MEMORY.md\n\nmemory',
    );
  });

  it('trims each file and reports the length of its section', async () => {
    await write('agent', 'SOUL.md', '\n  Be kind.  \n\n');
    const composed = await composeMemoryPrompt(store, noUser);
    expect(composed.prompt).toBe('## SOUL.md\n\nBe kind.');
    expect(composed.included).toEqual([{ layer: 'agent', path: 'SOUL.md', priority: 20, chars: composed.prompt.length }]);
  });

  it('keeps the given order for files of equal priority', async () => {
    await write('agent', 'b.md', 'b');
    await write('agent', 'a.md', 'a');
    const files = [
      { layer: 'agent', path: 'b.md', priority: 1 },
      { layer: 'agent', path: 'a.md', priority: 1 },
    ];
    expect((await composeMemoryPrompt(store, noUser, { files })).prompt).toBe('## b.md\n\nb\n\n## a.md\n\na');
  });

  it('drops a file that does not fit whole, and still includes a later one that does', async () => {
    await write('site', 'SITE.md', 'site');
    await write('agent', 'SOUL.md', 'x'.repeat(100));
    await write('agent', 'MEMORY.md', 'memory');
    const site = '## SITE.md\n\nsite';
    const memory = '## MEMORY.md\n\nmemory';
    const composed = await composeMemoryPrompt(store, noUser, { maxChars: site.length + 2 + memory.length });
    expect(composed.prompt).toBe(`${site}\n\n${memory}`);
    expect(composed.dropped).toEqual([{ layer: 'agent', path: 'SOUL.md', priority: 20, chars: '## SOUL.md\n\n'.length + 100, reason: 'budget' }]);
    expect(composed.included.map((file) => file.path)).toEqual(['SITE.md', 'MEMORY.md']);
  });

  it('counts the blank line between sections against the budget', async () => {
    await write('site', 'SITE.md', 'site');
    await write('agent', 'MEMORY.md', 'memory');
    const exact = '## SITE.md\n\nsite\n\n## MEMORY.md\n\nmemory'.length;
    expect((await composeMemoryPrompt(store, noUser, { maxChars: exact })).included).toHaveLength(2);
    const short = await composeMemoryPrompt(store, noUser, { maxChars: exact - 1 });
    expect(short.included.map((file) => file.path)).toEqual(['SITE.md']);
    expect(short.dropped.map((file) => file.path)).toEqual(['MEMORY.md']);
  });

  it('reports the files that do not exist as missing', async () => {
    await write('agent', 'SOUL.md', 'soul');
    const composed = await composeMemoryPrompt(store, target);
    expect(composed.missing).toEqual([
      { layer: 'site', path: 'SITE.md', priority: 10 },
      { layer: 'site', path: 'RULES.md', priority: 15 },
      { layer: 'user', path: 'USER.md', priority: 25 },
      { layer: 'agent', path: 'MEMORY.md', priority: 30 },
    ]);
  });

  it("reads USER.md from the target user's scope only", async () => {
    await write('user', 'USER.md', 'no one');
    await write('user', 'USER.md', 'someone else', 'u2');
    await write('user', 'USER.md', 'the target', 'u1');
    expect((await composeMemoryPrompt(store, target)).prompt).toBe('## USER.md\n\nthe target');
  });

  it('skips user files when there is no user, even if a file of no user exists', async () => {
    await write('user', 'USER.md', 'no one');
    const composed = await composeMemoryPrompt(store, noUser);
    expect(composed.prompt).toBe('');
    expect(composed.skipped).toEqual([{ layer: 'user', path: 'USER.md', priority: 25, reason: 'no_user' }]);
    expect(composed.missing.map((file) => file.path)).not.toContain('USER.md');
  });

  it('reads site and agent files as files of no user, even for a user', async () => {
    await write('agent', 'SOUL.md', 'a personal soul', 'u1');
    const composed = await composeMemoryPrompt(store, target);
    expect(composed.prompt).toBe('');
    expect(composed.missing.map((file) => file.path)).toContain('SOUL.md');
  });

  it('skips empty and blank files as empty', async () => {
    await write('site', 'SITE.md', '');
    await write('agent', 'SOUL.md', ' \n\t\n');
    await write('agent', 'MEMORY.md', 'memory');
    const composed = await composeMemoryPrompt(store, noUser);
    expect(composed.prompt).toBe('## MEMORY.md\n\nmemory');
    expect(composed.skipped.filter((file) => file.reason === 'empty').map((file) => file.path)).toEqual(['SITE.md', 'SOUL.md']);
  });

  it('returns copies that leave the default file list untouched', async () => {
    const composed = await composeMemoryPrompt(store, noUser);
    (composed.missing[0] as { priority: number }).priority = 99;
    expect(defaultMemoryPromptFiles[0]).toEqual({ layer: 'site', path: 'SITE.md', priority: 10 });
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects maxChars %s with memory.invalid_scope', async (maxChars) => {
    const error = await composeMemoryPrompt(store, target, { maxChars }).catch((caught: unknown) => caught);
    expect(AgentsApiError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'memory.invalid_scope' });
    expect((error as Error).message).toContain('maxChars');
  });

  it('reads every file in one readMany call when the store has one, and with read for each file when it has not', async () => {
    await write('agent', 'SOUL.md', 'soul');
    await write('user', 'USER.md', 'user', 'u1');
    const calls: string[] = [];
    const counted: MemoryStore = {
      ...store,
      read: (scope) => (calls.push(`read ${scope.path}`), store.read(scope)),
      readMany: (scopes) => (calls.push(`readMany ${scopes.map((scope) => scope.path).join(',')}`), store.readMany!(scopes)),
    };
    const { readMany: _readMany, ...readOnly } = counted;
    const many = await composeMemoryPrompt(counted, target);
    expect(calls).toEqual(['readMany SITE.md,RULES.md,SOUL.md,USER.md,MEMORY.md']);
    calls.length = 0;
    expect(await composeMemoryPrompt(readOnly, target)).toEqual(many);
    expect(calls).toEqual(['read SITE.md', 'read RULES.md', 'read SOUL.md', 'read USER.md', 'read MEMORY.md']);
    expect(many.prompt).toBe('## SOUL.md\n\nsoul\n\n## USER.md\n\nuser');
  });

  it('reads no user file without a user, in readMany either', async () => {
    const asked: string[][] = [];
    const counted: MemoryStore = { ...store, readMany: (scopes) => (asked.push(scopes.map((scope) => scope.path)), store.readMany!(scopes)) };
    await composeMemoryPrompt(counted, noUser);
    expect(asked).toEqual([['SITE.md', 'RULES.md', 'SOUL.md', 'MEMORY.md']]);
  });

  it('fails with memory.store_failed when readMany gives fewer results than files', async () => {
    const short: MemoryStore = { ...store, readMany: async () => [] };
    await expect(composeMemoryPrompt(short, target)).rejects.toMatchObject({ code: 'memory.store_failed' });
  });

  it('rejects a file entry with a path that climbs out', async () => {
    const files = [{ layer: 'agent', path: '../secrets.md', priority: 1 }];
    await expect(composeMemoryPrompt(store, target, { files })).rejects.toMatchObject({ code: 'memory.invalid_scope' });
  });
});
