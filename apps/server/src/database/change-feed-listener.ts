import { setTimeout as delay } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
import { accessChangeChannel, createBearerAccessCache, createMemoryPromptCache, memoryChangeChannel, type BearerAccessCache, type ChangeFedCache, type MemoryPromptCache } from 'data-machine';
import pg from 'pg';

/** Where changes are listened for: the embedded PGlite itself, or a Postgres server (a dedicated connection, not one of the pool's). */
export type ChangeFeedSource = { readonly pglite: Pick<PGlite, 'listen'> } | { readonly connectionString: string };

/** What the listener reports, for logs and for tests that wait on a notification instead of sleeping. */
export type ChangeFeedEvent =
  | { readonly kind: 'listening' }
  | { readonly kind: 'changed'; readonly channel: string; readonly table: string }
  | { readonly kind: 'lost'; readonly error: unknown };

/** Options of {@link listenForChanges}. */
export interface ChangeFeedListenerOptions {
  readonly source: ChangeFeedSource;
  /** The caches to keep, by the channel whose notifications empty each. */
  readonly feeds: Readonly<Record<string, ChangeFedCache>>;
  /** Called on each event, after the caches have acted on it. */
  readonly onEvent?: (event: ChangeFeedEvent) => void;
  /** How long to wait before connecting again after the connection is lost; default 1 s. */
  readonly retryMs?: number;
}

/** A running listener; {@link ChangeFeedListener.close} stops it and leaves its caches bypassed. */
export interface ChangeFeedListener {
  close(): Promise<void>;
}

/**
 * Keeps change-fed caches in step with the database: `LISTEN` on each feed's
 * channel, and every notification empties that feed's cache. The caches are
 * used only while the listener listens: they resume (emptied) once every
 * `LISTEN` is in place and are suspended (bypassed) when the connection is
 * lost, until a reconnection listens again. See
 * docs/decisions/2026-12-01-access-cache.md.
 */
export function listenForChanges(options: ChangeFeedListenerOptions): ChangeFeedListener {
  const { source, feeds } = options;
  const caches = Object.values(feeds);
  const emit = (event: ChangeFeedEvent) => options.onEvent?.(event);
  const changed = (channel: string, table: string) => {
    feeds[channel]?.invalidate();
    emit({ kind: 'changed', channel, table });
  };
  if ('pglite' in source) {
    // In-process: the listener cannot lose its connection; notifications arrive with the result of the committing statement.
    const listening = Promise.all(Object.keys(feeds).map((channel) => source.pglite.listen(channel, (payload) => changed(channel, payload)))).then((unlistens) => {
      for (const cache of caches) cache.resume();
      emit({ kind: 'listening' });
      return unlistens;
    });
    return {
      async close() {
        for (const cache of caches) cache.suspend();
        await Promise.all((await listening).map((unlisten) => unlisten()));
      },
    };
  }
  const stopping = new AbortController();
  const running = listenOnPostgres(source.connectionString, feeds, changed, emit, options.retryMs ?? 1_000, stopping.signal);
  return {
    async close() {
      stopping.abort();
      await running;
    },
  };
}

/** Connects, listens and waits for the connection to end; again after `retryMs`, until `signal` aborts. */
async function listenOnPostgres(
  connectionString: string,
  feeds: Readonly<Record<string, ChangeFedCache>>,
  changed: (channel: string, table: string) => void,
  emit: (event: ChangeFeedEvent) => void,
  retryMs: number,
  signal: AbortSignal,
): Promise<void> {
  const caches = Object.values(feeds);
  const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  while (!signal.aborted) {
    const client = new pg.Client({ connectionString });
    const disconnected = new Promise<unknown>((resolve) => {
      // An 'error' event without a listener would be an uncaught exception.
      client.on('error', resolve);
      client.on('end', () => resolve(new Error('the change feed listener was disconnected')));
    });
    const ended = Promise.race([disconnected, aborted]);
    client.on('notification', (message) => {
      if (message.channel in feeds) changed(message.channel, message.payload ?? '');
    });
    let lost: unknown;
    try {
      await client.connect();
      // One statement: every channel listens, or none does.
      await client.query(Object.keys(feeds).map((channel) => `listen ${channel}`).join('; '));
      if (!signal.aborted) {
        for (const cache of caches) cache.resume();
        emit({ kind: 'listening' });
      }
      lost = await ended;
    } catch (error) {
      lost = error;
    }
    for (const cache of caches) cache.suspend();
    await client.end().catch(() => undefined);
    if (signal.aborted) return;
    emit({ kind: 'lost', error: lost });
    await delay(retryMs, undefined, { signal }).catch(() => undefined);
  }
}

/** The change-fed caches of a serving process and the listener that keeps them. */
export interface ChangeFedCaching {
  readonly accessCache: BearerAccessCache;
  readonly memoryPromptCache: MemoryPromptCache;
  /** Stops listening; the caches are bypassed from then on. */
  close(): Promise<void>;
}

/** The feeds of {@link ChangeFedCaching}'s caches, by channel. */
export function changeFeeds(caches: Pick<ChangeFedCaching, 'accessCache' | 'memoryPromptCache'>): Readonly<Record<string, ChangeFedCache>> {
  return { [accessChangeChannel]: caches.accessCache, [memoryChangeChannel]: caches.memoryPromptCache };
}

/** Starts the change-fed caches of a serving process on `source`; losing and regaining the feed is logged. */
export function startChangeFedCaching(source: ChangeFeedSource, logger: { warn(entry: object, message: string): void; info(entry: object, message: string): void }): ChangeFedCaching {
  const caches = { accessCache: createBearerAccessCache(), memoryPromptCache: createMemoryPromptCache() };
  let lost = false;
  const listener = listenForChanges({
    source,
    feeds: changeFeeds(caches),
    onEvent: (event) => {
      if (event.kind === 'lost') {
        lost = true;
        logger.warn({ err: event.error }, 'change feed lost; requests read access and memory from the database until it is back');
      } else if (event.kind === 'listening' && lost) {
        lost = false;
        logger.info({}, 'change feed back; access and memory caches in use again');
      }
    },
  });
  return { ...caches, close: () => listener.close() };
}
