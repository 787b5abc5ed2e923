import { setTimeout as delay } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
import { accessChangeChannel, createBearerAccessCache, type BearerAccessCache } from 'data-machine';
import pg from 'pg';

/** Where access changes are listened for: the embedded PGlite itself, or a Postgres server (a dedicated connection, not one of the pool's). */
export type AccessChangeSource = { readonly pglite: Pick<PGlite, 'listen'> } | { readonly connectionString: string };

/** What the listener reports, for logs and for tests that wait on a notification instead of sleeping. */
export type AccessChangeEvent =
  | { readonly kind: 'listening' }
  | { readonly kind: 'changed'; readonly table: string }
  | { readonly kind: 'lost'; readonly error: unknown };

/** Options of {@link listenForAccessChanges}. */
export interface AccessChangeListenerOptions {
  readonly source: AccessChangeSource;
  readonly cache: BearerAccessCache;
  /** Called on each event, after the cache has acted on it. */
  readonly onEvent?: (event: AccessChangeEvent) => void;
  /** How long to wait before connecting again after the connection is lost; default 1 s. */
  readonly retryMs?: number;
}

/** A running listener; {@link AccessChangeListener.close} stops it and leaves the cache bypassed. */
export interface AccessChangeListener {
  close(): Promise<void>;
}

/**
 * Keeps `cache` in step with the database: `LISTEN dm_access_changed`, and
 * every notification empties it. The cache is used only while the listener
 * listens: it resumes (emptied) once `LISTEN` is in place and is suspended
 * (bypassed) when the connection is lost, until a reconnection listens
 * again. See docs/decisions/2026-12-01-access-cache.md.
 */
export function listenForAccessChanges(options: AccessChangeListenerOptions): AccessChangeListener {
  const { source, cache } = options;
  const emit = (event: AccessChangeEvent) => options.onEvent?.(event);
  const changed = (table: string) => {
    cache.invalidate();
    emit({ kind: 'changed', table });
  };
  if ('pglite' in source) {
    // In-process: the listener cannot lose its connection; notifications arrive with the result of the committing statement.
    const listening = source.pglite.listen(accessChangeChannel, changed).then((unlisten) => {
      cache.resume();
      emit({ kind: 'listening' });
      return unlisten;
    });
    return {
      async close() {
        cache.suspend();
        await (await listening)();
      },
    };
  }
  const stopping = new AbortController();
  const running = listenOnPostgres(source.connectionString, cache, changed, emit, options.retryMs ?? 1_000, stopping.signal);
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
  cache: BearerAccessCache,
  changed: (table: string) => void,
  emit: (event: AccessChangeEvent) => void,
  retryMs: number,
  signal: AbortSignal,
): Promise<void> {
  const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  while (!signal.aborted) {
    const client = new pg.Client({ connectionString });
    const disconnected = new Promise<unknown>((resolve) => {
      // An 'error' event without a listener would be an uncaught exception.
      client.on('error', resolve);
      client.on('end', () => resolve(new Error('the access change listener was disconnected')));
    });
    const ended = Promise.race([disconnected, aborted]);
    client.on('notification', (message) => {
      if (message.channel === accessChangeChannel) changed(message.payload ?? '');
    });
    let lost: unknown;
    try {
      await client.connect();
      await client.query(`listen ${accessChangeChannel}`);
      if (!signal.aborted) {
        cache.resume();
        emit({ kind: 'listening' });
      }
      lost = await ended;
    } catch (error) {
      lost = error;
    }
    cache.suspend();
    await client.end().catch(() => undefined);
    if (signal.aborted) return;
    emit({ kind: 'lost', error: lost });
    await delay(retryMs, undefined, { signal }).catch(() => undefined);
  }
}

/** A bearer access cache and the listener that keeps it, as the server runs them. */
export interface AccessCaching {
  readonly cache: BearerAccessCache;
  /** Stops listening; the cache is bypassed from then on. */
  close(): Promise<void>;
}

/** Starts the access cache of a serving process on `source`; losing and regaining the feed is logged. */
export function startAccessCaching(source: AccessChangeSource, logger: { warn(entry: object, message: string): void; info(entry: object, message: string): void }): AccessCaching {
  const cache = createBearerAccessCache();
  let lost = false;
  const listener = listenForAccessChanges({
    source,
    cache,
    onEvent: (event) => {
      if (event.kind === 'lost') {
        lost = true;
        logger.warn({ err: event.error }, 'access change feed lost; requests read access from the database until it is back');
      } else if (event.kind === 'listening' && lost) {
        lost = false;
        logger.info({}, 'access change feed back; access cache in use again');
      }
    },
  });
  return { cache, close: () => listener.close() };
}
