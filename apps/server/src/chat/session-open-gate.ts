import type { ModelProvider, TranscriptStore } from '@data-machine/agents-api';

/** A new session's store and model, as one turn runs on them: the session's open waits for the model's answer. */
export interface SessionOpenGate {
  /** The turn's store: `openSession` starts once the gate has opened and the loop has gone round twice. */
  readonly store: TranscriptStore;
  /** The turn's model: its first streamed event, or the end of a call, opens the gate. */
  readonly provider: ModelProvider;
}

/** Options of {@link createSessionOpenGate}. */
export interface SessionOpenGateOptions {
  /** The turn's cancellation: aborting opens the gate (a run stopped before its model call still ends through its open). */
  readonly signal?: AbortSignal | undefined;
  /** The gate opens after this long whatever the model does (a slow model, a run that fails before its call); default 20 ms. */
  readonly fallbackMs?: number;
}

/**
 * Holds a new session's open until its turn's model has answered. The
 * substrate starts a new session's run before its open (events may precede
 * it; only the run's first write waits for it) and sends the open beside the
 * model call. The open's statement then competes with the model call for
 * this event loop (on PGlite it runs on it): held until the model's first
 * event has come and the loop has gone round twice (so the first text delta
 * is written and flushed first, see `EventStreamWriter.flush`), it runs
 * while the rest of the answer streams. A model slower than `fallbackMs`
 * finds the open done before its first event. See
 * docs/decisions/2026-12-01-chat-first-byte.md ("The open after the first delta").
 */
export function createSessionOpenGate(store: TranscriptStore, provider: ModelProvider, options: SessionOpenGateOptions = {}): SessionOpenGate {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const fallback = setTimeout(open, options.fallbackMs ?? 20);
  fallback.unref();
  void opened.then(() => clearTimeout(fallback));
  if (options.signal?.aborted) open();
  options.signal?.addEventListener('abort', open, { once: true });
  const gated: Pick<TranscriptStore, 'openSession'> = {
    openSession: (...args) => opened.then(loopRounds).then(() => store.openSession(...args)),
  };
  const answered: Pick<ModelProvider, 'complete' | 'stream'> = {
    complete: (request, callOptions) => provider.complete(request, callOptions).finally(open),
    stream: (request, callOptions) => openingOnFirst(provider.stream(request, callOptions), open),
  };
  // Every other member is the original's, through the prototype chain (`this` included).
  return { store: Object.assign(Object.create(store) as TranscriptStore, gated), provider: Object.assign(Object.create(provider) as ModelProvider, answered) };
}

async function* openingOnFirst<Event>(events: AsyncIterable<Event>, open: () => void): AsyncGenerator<Event, void> {
  try {
    for await (const event of events) {
      open();
      yield event;
    }
  } finally {
    open();
  }
}

/** Two event-loop rounds: the second `setImmediate`, scheduled from the check phase, runs after the next poll phase. */
function loopRounds(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
