import type { TranscriptStore } from '@data-machine/agents-api';

/**
 * `store`, whose `openSession` starts one event-loop turn after it is called.
 * A new session's turn launches its model call and opens its session beside
 * it in the same tick, the open first; deferred, the model request is written
 * before the open's statement is built and sent (on PGlite, before it runs on
 * this event loop), so the model starts answering sooner. The open still
 * resolves before the run's first write, which waits on it. See
 * docs/decisions/2026-12-01-chat-first-byte.md ("The open after the model request").
 */
export function deferOpenSession(store: TranscriptStore): TranscriptStore {
  // Every other member is the store's own, through the prototype chain (`this` included).
  const deferred: Pick<TranscriptStore, 'openSession'> = {
    openSession: (...args) => nextLoopTurn().then(() => store.openSession(...args)),
  };
  return Object.assign(Object.create(store) as TranscriptStore, deferred);
}

function nextLoopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
