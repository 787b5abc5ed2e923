import { describe, expect, it } from 'vitest';
import { createChangeFedStore } from './change-fed-cache';

const keepAll = () => true;

describe('change-fed store', () => {
  it('holds no more weight than its bound: the least recently used values go first', async () => {
    const store = createChangeFedStore<string>({ maxEntries: 100, maxAgeMs: 60_000, weight: { of: (value) => value.length, max: 10 } });
    store.resume();
    await store.read('a', async () => 'aaaa', keepAll);
    await store.read('b', async () => 'bbbb', keepAll);
    // `a` used again: `b` is now the least recently used.
    await store.read('a', async () => 'not read', keepAll);
    await store.read('c', async () => 'cccc', keepAll);
    expect(store.size).toBe(2);
    let loads = 0;
    const load = async () => {
      loads += 1;
      return 'xxxx';
    };
    await store.read('a', load, keepAll);
    await store.read('c', load, keepAll);
    expect(loads).toBe(0);
    await store.read('b', load, keepAll);
    expect(loads).toBe(1);
  });

  it('keeps no value heavier than its whole bound', async () => {
    const store = createChangeFedStore<string>({ maxEntries: 100, maxAgeMs: 60_000, weight: { of: (value) => value.length, max: 3 } });
    store.resume();
    await store.read('a', async () => 'aaaa', keepAll);
    expect(store.size).toBe(0);
  });

  it('reads again a value older than its maximum age', async () => {
    let clock = 0;
    const store = createChangeFedStore<string>({ maxEntries: 100, maxAgeMs: 1_000, now: () => clock });
    store.resume();
    await store.read('a', async () => 'old', keepAll);
    clock = 999;
    expect(await store.read('a', async () => 'new', keepAll)).toBe('old');
    clock = 1_999;
    expect(await store.read('a', async () => 'new', keepAll)).toBe('new');
  });

  it('tells its owner each time it is emptied', () => {
    let cleared = 0;
    const store = createChangeFedStore<string>({ maxEntries: 1, maxAgeMs: 1, onClear: () => (cleared += 1) });
    store.resume();
    store.invalidate();
    store.suspend();
    expect(cleared).toBe(3);
  });
});
