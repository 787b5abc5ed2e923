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
 * `text/event-stream`, no caching, with `headers` besides. Errors after this
 * point are events; nothing else may write to the reply.
 */
export function openEventStream(reply: FastifyReply, headers: Readonly<Record<string, string>> = {}): EventStreamWriter {
  void reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no', ...headers });
  raw.flushHeaders();
  const gone = () => raw.destroyed || raw.writableEnded;
  return {
    send({ id, event, data }) {
      if (gone()) return;
      const lines = (typeof data === 'string' ? data : JSON.stringify(data)).split('\n').map((line) => `data: ${line}`);
      raw.write(`${id === undefined ? '' : `id: ${id}\n`}${event === undefined ? '' : `event: ${event}\n`}${lines.join('\n')}\n\n`);
    },
    end() {
      if (!gone()) raw.end();
    },
  };
}
