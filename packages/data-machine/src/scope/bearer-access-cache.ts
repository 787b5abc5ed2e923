import { createChangeFedStore, evictOldest, lifecycleOf, type ChangeFedCache } from '../internal/change-fed-cache';

/**
 * What `dm_bearer_access` answers, kept between requests in one process and
 * emptied by the database's change feed (`dm_access_changed`, migration
 * 0020). The one place of the trick: see docs/decisions/2026-12-01-access-cache.md.
 *
 * It caches the rows (parsed), never decisions: every use re-runs the token
 * checks (expiry against the clock of the request) and the authorization on them.
 */
export interface BearerAccessCache extends ChangeFedCache {
  /**
   * What `load` answers for `key`: cached and younger than the maximum age,
   * or loaded. A loaded value is kept only when `keep` accepts it, the feed
   * listened the whole time, and no change arrived since the load began. A
   * cached value is handed to every read of its key: keep it immutable.
   */
  read<Value>(key: BearerAccessKey, load: () => Promise<Value>, keep: (value: Value) => boolean): Promise<Value>;
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
  let uses = new Map<string, Date>();
  const values = createChangeFedStore<unknown>({ maxEntries, maxAgeMs: options.maxAgeMs ?? 30_000, now: options.now, onClear: () => (uses = new Map()) });
  const cache: Omit<BearerAccessCache, keyof ChangeFedCache> = {
    read<Value>(key: BearerAccessKey, load: () => Promise<Value>, keep: (value: Value) => boolean): Promise<Value> {
      // Only `load`'s value for this very key is stored under it.
      return values.read(cacheKey(key), load, keep as (value: unknown) => boolean) as Promise<Value>;
    },
    recordedUse: (tokenHash) => uses.get(tokenHash),
    noteUse(tokenHash, at) {
      if (!values.active) return;
      uses.delete(tokenHash);
      uses.set(tokenHash, at);
      evictOldest(uses, maxEntries);
    },
  };
  return Object.assign(lifecycleOf(values), cache);
}

function cacheKey(key: BearerAccessKey): string {
  // JSON of a fixed field order: no separator a value could contain can make two keys collide.
  return JSON.stringify([key.role, key.tokenHash, key.isUserToken, key.tenantRef, key.tenantId, key.agentRef]);
}
