import type { FastifyReply } from 'fastify';

/** One server-sent event: `data` is sent as JSON (a string as it is). */
export interface ServerSentEvent {
  readonly id?: string | undefined;
  readonly event?: string | undefined;
  readonly data: unknown;
}

/** A response that streams server-sent events. */
export interface EventStreamWriter {
  /** Sends one event; does nothing once the client has gone. */
  send(event: ServerSentEvent): void;
  /**
   * The first call lets what was sent leave before the caller goes on: it
   * resolves once the event loop has gone round (Node sends a response's
   * writes when the current run of microtasks ends, and a model's answer that
   * arrived in one read is consumed in one such run). Later calls resolve at
   * once. Await it after every text delta, so only the first waits; see
   * docs/decisions/2026-12-01-chat-first-byte.md ("The first delta leaves first").
   */
  flushOnce(): Promise<void>;
  /** Ends the response. */
  end(): void;
}

/**
 * Aborts when the client goes away before the response has ended: hand its
 * signal to the run, so a disconnect cancels it. Watch before the response
 * starts; the response's `close` fires on a lost connection, and after a
 * normal end (which it ignores).
 */
export function watchDisconnect(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * Takes the response over from Fastify and starts an event stream: 200,
 * `text/event-stream`, no caching, with `headers` besides. With `first`, the
 * headers leave with that event in one write; without, at once on their own.
 * Errors after this point are events; nothing else may write to the reply.
 */
export function openEventStream(reply: FastifyReply, headers: Readonly<Record<string, string>> = {}, first?: ServerSentEvent): EventStreamWriter {
  void reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no', ...headers });
  const gone = () => raw.destroyed || raw.writableEnded;
  let flushed = false;
  const writer: EventStreamWriter = {
    send({ id, event, data }) {
      if (gone()) return;
      const lines = (typeof data === 'string' ? data : JSON.stringify(data)).split('\n').map((line) => `data: ${line}`);
      raw.write(`${id === undefined ? '' : `id: ${id}\n`}${event === undefined ? '' : `event: ${event}\n`}${lines.join('\n')}\n\n`);
    },
    flushOnce() {
      if (flushed) return Promise.resolve();
      flushed = true;
      return loopTurn();
    },
    end() {
      if (!gone()) raw.end();
    },
  };
  // Node sends unsent headers with a response's first write: one syscall instead of two (flushHeaders writes them alone).
  if (first === undefined) raw.flushHeaders();
  else writer.send(first);
  return writer;
}

/**
 * One round of the event loop. The first `setImmediate` runs after the
 * pending `nextTick`s, where Node uncorks the response's socket (the bytes
 * are written); the second, scheduled from the check phase, runs only after
 * the next poll phase, so I/O already waiting (a reader of the stream in this
 * process, other requests) runs before the turn's remaining work.
 */
function loopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
