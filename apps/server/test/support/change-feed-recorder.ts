import type { TestDatabase } from '@data-machine/testkit';
import type { ChangeFeedEvent, ChangeFeedSource } from '../../src/database/change-feed-listener';

/** Where a test database's changes are listened for, as `openDatabase` says for the server's. */
export function changeFeedSourceOf(database: TestDatabase): ChangeFeedSource {
  return database.pglite !== undefined ? { pglite: database.pglite } : { connectionString: String(database.url) };
}

/** The events of a change feed listener, in order, and a way to wait for one without sleeping. */
export interface ChangeFeedRecorder {
  readonly events: readonly ChangeFeedEvent[];
  /** Pass as the listener's `onEvent`. */
  readonly onEvent: (event: ChangeFeedEvent) => void;
  /** The first event from index `from` on that `matches`; rejects after `deadlineMs` (default 10 s) without one. */
  next(matches: (event: ChangeFeedEvent) => boolean, from?: number, deadlineMs?: number): Promise<ChangeFeedEvent>;
}

export function recordChanges(): ChangeFeedRecorder {
  const events: ChangeFeedEvent[] = [];
  const waiting = new Set<() => void>();
  return {
    events,
    onEvent(event) {
      events.push(event);
      for (const wake of [...waiting]) wake();
    },
    next(matches, from = 0, deadlineMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.slice(from).find(matches);
          if (found === undefined) return;
          waiting.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiting.delete(check);
          reject(new Error(`no matching change feed event within ${deadlineMs} ms; seen: ${JSON.stringify(events.slice(from))}`));
        }, deadlineMs);
        waiting.add(check);
        check();
      });
    },
  };
}
