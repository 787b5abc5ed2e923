/**
 * The mechanics every cache kept by the database's change feed shares (the
 * bearer access cache, the memory-prompt cache): inactive until its feed
 * listens, emptied by every change, generations against reads that overlap a
 * change, bounded by entries, weight and age. The one place of the trick: see
 * docs/decisions/2026-12-01-access-cache.md.
 */

/** What the host's change-feed listener drives: the lifecycle of a change-fed cache. */
export interface ChangeFedCache {
  /** A change was notified (or made by this process): empties the cache; reads begun before it store nothing. */
  invalidate(): void;
  /** The change feed listens (again): empties the cache and starts using it. */
  resume(): void;
  /** The change feed stopped listening: empties the cache and bypasses it (every read goes to the database) until {@link resume}. */
  suspend(): void;
  /** Whether reads are served from the cache (the feed listens). */
  readonly active: boolean;
  /** Entries held now. */
  readonly size: number;
}

/** A {@link ChangeFedCache} of values of one kind by string key. */
export interface ChangeFedStore<Value> extends ChangeFedCache {
  /**
   * The value for `key`: cached and younger than the maximum age, or loaded by
   * `load`. A loaded value is kept only when `keep` accepts it, the feed
   * listened the whole time, and no change arrived since the load began.
   */
  read(key: string, load: () => Promise<Value>, keep: (value: Value) => boolean): Promise<Value>;
}

/** Bounds of a {@link ChangeFedStore}. */
export interface ChangeFedStoreOptions<Value> {
  /** Entries held at most; the least recently used goes first. */
  readonly maxEntries: number;
  /** An entry older than this is read again (a belt beside the change feed). */
  readonly maxAgeMs: number;
  /** The clock of the maximum age; default `Date.now`. */
  readonly now?: (() => number) | undefined;
  /** A value's weight, and the most the entries may weigh together (the least recently used go first); none by default. */
  readonly weight?: { readonly of: (value: Value) => number; readonly max: number } | undefined;
  /** Called whenever the cache is emptied (a change, the feed lost or back): for state kept beside the entries. */
  readonly onClear?: (() => void) | undefined;
}

interface Entry<Value> {
  readonly value: Value;
  readonly storedAt: number;
  readonly weight: number;
}

/** Creates a bounded, least-recently-used {@link ChangeFedStore}, inactive until its feed calls `resume`. */
export function createChangeFedStore<Value>(options: ChangeFedStoreOptions<Value>): ChangeFedStore<Value> {
  const { maxEntries, maxAgeMs, weight, onClear } = options;
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order: re-inserting on use makes its first key the least recently used.
  let entries = new Map<string, Entry<Value>>();
  let weighs = 0;
  let generation = 0;
  let active = false;
  const clear = () => {
    generation += 1;
    entries = new Map();
    weighs = 0;
    onClear?.();
  };
  const remove = (key: string, entry: Entry<Value>) => {
    entries.delete(key);
    weighs -= entry.weight;
  };
  const evict = () => {
    for (const [key, entry] of entries) {
      if (entries.size <= maxEntries && weighs <= (weight?.max ?? Number.POSITIVE_INFINITY)) return;
      remove(key, entry);
    }
  };
  return {
    invalidate: clear,
    resume() {
      clear();
      active = true;
    },
    suspend() {
      clear();
      active = false;
    },
    get active() {
      return active;
    },
    get size() {
      return entries.size;
    },
    async read(key, load, keep) {
      if (!active) return load();
      const found = entries.get(key);
      if (found !== undefined) {
        remove(key, found);
        if (now() - found.storedAt < maxAgeMs) {
          entries.set(key, found);
          weighs += found.weight;
          return found.value;
        }
      }
      const started = generation;
      const value = await load();
      // A change notified while the read ran may not be in its value: keeping it could outlive the change.
      if (active && generation === started && keep(value)) {
        const entry = { value, storedAt: now(), weight: weight?.of(value) ?? 0 };
        const existing = entries.get(key);
        if (existing !== undefined) remove(key, existing);
        entries.set(key, entry);
        weighs += entry.weight;
        evict();
      }
      return value;
    },
  };
}

/**
 * The lifecycle members of `store` as an object of their own, its getters
 * live: a cache built on a store adds its reads with `Object.assign` onto it.
 */
export function lifecycleOf(store: ChangeFedCache): ChangeFedCache {
  return {
    invalidate: () => store.invalidate(),
    resume: () => store.resume(),
    suspend: () => store.suspend(),
    get active() {
      return store.active;
    },
    get size() {
      return store.size;
    },
  };
}

/** Drops the first (least recently used) keys of `map` until it holds at most `max`. */
export function evictOldest(map: Map<string, unknown>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}
