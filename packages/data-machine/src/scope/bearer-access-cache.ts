/**
 * What `dm_bearer_access` answers, kept between requests in one process and
 * emptied by the database's change feed (`dm_access_changed`, migration
 * 0020). The one place of the trick: see docs/decisions/2026-12-01-access-cache.md.
 *
 * It caches rows, never decisions: every use re-runs the token checks (expiry
 * against the clock of the request) and the authorization on them.
 */
export interface BearerAccessCache {
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
  /**
   * The rows for `key`: cached and younger than the maximum age, or loaded by
   * `load`. Loaded rows are kept only when `keep` accepts them, the feed
   * listened the whole time, and no change arrived since the load began.
   */
  read<Row>(key: BearerAccessKey, load: () => Promise<readonly Row[]>, keep: (rows: readonly Row[]) => boolean): Promise<readonly Row[]>;
  /** When this process last recorded a use of the token (its `last_used_at` write, which notifies nobody), if it did since the last change. */
  recordedUse(tokenHash: string): Date | undefined;
  /** Notes that this process recorded a use of the token at `at`. */
  noteUse(tokenHash: string, at: Date): void;
}

/** Everything `dm_bearer_access` takes: the cache's key. */
export interface BearerAccessKey {
  readonly role: string | null;
  readonly tokenHash: string;
  readonly isUserToken: boolean;
  readonly tenantRef: string | null;
  readonly tenantId: string | null;
  readonly agentRef: string | null;
}

/** Options of {@link createBearerAccessCache}. */
export interface BearerAccessCacheOptions {
  /** Entries held at most; the least recently used goes first. Default 5,000. */
  readonly maxEntries?: number;
  /** An entry older than this is read again (a belt beside the change feed). Default 30 s. */
  readonly maxAgeMs?: number;
  /** The clock of the maximum age; default `Date.now`. */
  readonly now?: () => number;
}

interface Entry {
  readonly rows: readonly unknown[];
  readonly storedAt: number;
}

/**
 * A bounded, least-recently-used {@link BearerAccessCache}, inactive until
 * its change feed calls `resume`.
 *
 * @example
 * const cache = createBearerAccessCache();
 * const context = createDataMachineContext({ db, accessCache: cache });
 * // the host's listener: LISTEN dm_access_changed, then cache.resume(); each notification: cache.invalidate()
 */
export function createBearerAccessCache(options: BearerAccessCacheOptions = {}): BearerAccessCache {
  const maxEntries = options.maxEntries ?? 5_000;
  const maxAgeMs = options.maxAgeMs ?? 30_000;
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order: re-inserting on use makes its first key the least recently used.
  let entries = new Map<string, Entry>();
  let uses = new Map<string, Date>();
  let generation = 0;
  let active = false;
  const clear = () => {
    generation += 1;
    entries = new Map();
    uses = new Map();
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
    async read<Row>(key: BearerAccessKey, load: () => Promise<readonly Row[]>, keep: (rows: readonly Row[]) => boolean): Promise<readonly Row[]> {
      if (!active) return load();
      const id = cacheKey(key);
      const found = entries.get(id);
      if (found !== undefined) {
        entries.delete(id);
        if (now() - found.storedAt < maxAgeMs) {
          entries.set(id, found);
          // Only `load`'s rows for this very key are stored under it.
          return found.rows as readonly Row[];
        }
      }
      const started = generation;
      const rows = await load();
      // A change notified while the read ran may not be in its rows: keeping them could outlive the change.
      if (active && generation === started && keep(rows)) {
        entries.set(id, { rows, storedAt: now() });
        evict(entries, maxEntries);
      }
      return rows;
    },
    recordedUse: (tokenHash) => uses.get(tokenHash),
    noteUse(tokenHash, at) {
      if (!active) return;
      uses.delete(tokenHash);
      uses.set(tokenHash, at);
      evict(uses, maxEntries);
    },
  };
}

function evict(map: Map<string, unknown>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}

function cacheKey(key: BearerAccessKey): string {
  // JSON of a fixed field order: no separator a value could contain can make two keys collide.
  return JSON.stringify([key.role, key.tokenHash, key.isUserToken, key.tenantRef, key.tenantId, key.agentRef]);
}
