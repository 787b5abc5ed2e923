import { describe, expect, it } from 'vitest';
import { createBearerAccessCache, type BearerAccessKey } from './bearer-access-cache';

const key = (tokenHash: string, agentRef: string | null = null): BearerAccessKey => ({ role: 'dm_app', tokenHash, isUserToken: true, tenantRef: null, tenantId: null, agentRef });

/** A load that counts its calls and answers `rows`. */
function loader(rows: readonly string[] = ['token']) {
  const counted = { calls: 0, load: async () => {
    counted.calls += 1;
    return rows;
  } };
  return counted;
}

const always = () => true;

describe('bearer access cache', () => {
  it('reads the database until its change feed listens, then serves the second read from memory', async () => {
    const cache = createBearerAccessCache();
    const counted = loader();
    await cache.read(key('a'), counted.load, always);
    expect(cache.size).toBe(0);
    cache.resume();
    await cache.read(key('a'), counted.load, always);
    expect(await cache.read(key('a'), counted.load, always)).toEqual(['token']);
    expect(counted.calls).toBe(2);
  });

  it('keys on every argument of the statement', async () => {
    const cache = createBearerAccessCache();
    cache.resume();
    const counted = loader();
    await cache.read(key('a'), counted.load, always);
    await cache.read(key('a', 'bot'), counted.load, always);
    await cache.read({ ...key('a'), tenantRef: 'acme' }, counted.load, always);
    await cache.read({ ...key('a'), tenantId: 'tenant_1' }, counted.load, always);
    await cache.read({ ...key('a'), isUserToken: false }, counted.load, always);
    await cache.read({ ...key('a'), role: null }, counted.load, always);
    expect(counted.calls).toBe(6);
    expect(cache.size).toBe(6);
  });

  it('empties on a change, and a read begun before the change does not store its answer', async () => {
    const cache = createBearerAccessCache();
    cache.resume();
    let release: (rows: readonly string[]) => void = () => undefined;
    const pending = cache.read(key('a'), () => new Promise<readonly string[]>((resolve) => (release = resolve)), always);
    cache.invalidate();
    release(['stale']);
    expect(await pending).toEqual(['stale']);
    expect(cache.size).toBe(0);
    const counted = loader(['fresh']);
    expect(await cache.read(key('a'), counted.load, always)).toEqual(['fresh']);
    expect(counted.calls).toBe(1);
  });

  it('is bypassed and empty while the feed is lost, and starts empty when it is back', async () => {
    const cache = createBearerAccessCache();
    cache.resume();
    const counted = loader();
    await cache.read(key('a'), counted.load, always);
    cache.suspend();
    expect(cache.active).toBe(false);
    expect(cache.size).toBe(0);
    await cache.read(key('a'), counted.load, always);
    await cache.read(key('a'), counted.load, always);
    expect(counted.calls).toBe(3);
    cache.resume();
    await cache.read(key('a'), counted.load, always);
    expect(counted.calls).toBe(4);
  });

  it('does not keep what the caller refuses to keep (an unknown token)', async () => {
    const cache = createBearerAccessCache();
    cache.resume();
    const counted = loader([]);
    await cache.read(key('unknown'), counted.load, (rows) => rows.length > 0);
    await cache.read(key('unknown'), counted.load, (rows) => rows.length > 0);
    expect(counted.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the least recently used', async () => {
    const cache = createBearerAccessCache({ maxEntries: 2 });
    cache.resume();
    const counted = loader();
    await cache.read(key('a'), counted.load, always);
    await cache.read(key('b'), counted.load, always);
    await cache.read(key('a'), counted.load, always);
    await cache.read(key('c'), counted.load, always);
    expect(cache.size).toBe(2);
    expect(counted.calls).toBe(3);
    await cache.read(key('a'), counted.load, always);
    expect(counted.calls).toBe(3);
    await cache.read(key('b'), counted.load, always);
    expect(counted.calls).toBe(4);
  });

  it('reads an entry again once it is older than maxAgeMs', async () => {
    let now = 0;
    const cache = createBearerAccessCache({ maxAgeMs: 1_000, now: () => now });
    cache.resume();
    const counted = loader();
    await cache.read(key('a'), counted.load, always);
    now = 999;
    await cache.read(key('a'), counted.load, always);
    expect(counted.calls).toBe(1);
    now = 1_000;
    await cache.read(key('a'), counted.load, always);
    expect(counted.calls).toBe(2);
  });

  it('remembers the uses this process recorded until the next change', () => {
    const cache = createBearerAccessCache();
    const at = new Date('2026-12-01T12:00:00.000Z');
    cache.noteUse('a', at);
    expect(cache.recordedUse('a')).toBeUndefined();
    cache.resume();
    cache.noteUse('a', at);
    expect(cache.recordedUse('a')).toEqual(at);
    cache.invalidate();
    expect(cache.recordedUse('a')).toBeUndefined();
  });
});
