import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordSocketWrites } from '../../test/support/socket-writes';
import { openEventStream } from './server-sent-events';

describe('server-sent event stream', () => {
  let app: FastifyInstance;
  beforeEach(() => {
    app = Fastify();
  });
  afterEach(() => app.close());

  it('lets a sent event reach a reader in this process before the work after the first flushOnce() runs', async () => {
    let received = '';
    let seenAtFlush: string | undefined;
    let seenWithoutFlush: string | undefined;
    app.get('/events', async (_request, reply) => {
      const events = openEventStream(reply);
      events.send({ event: 'first', data: 'a' });
      // The work that would follow synchronously (the rest of a model answer) sees nothing sent yet.
      seenWithoutFlush = received;
      await events.flushOnce();
      seenAtFlush = received;
      events.send({ event: 'second', data: 'b' });
      events.end();
      return reply;
    });
    await readEvents(app, (chunk) => (received += chunk));
    expect(seenWithoutFlush).not.toContain('event: first');
    expect(seenAtFlush).toContain('event: first\ndata: a');
    expect(seenAtFlush).not.toContain('event: second');
    expect(received).toContain('event: second\ndata: b');
  });

  it('sends the headers with a first event in one write, and at once on their own without one', async () => {
    const writes: string[] = [];
    app.get('/events', async (request, reply) => {
      const first = (request.query as { first?: string }).first === 'yes' ? { event: 'first', data: 'a' } : undefined;
      const events = openEventStream(reply, {}, first);
      // The end is another write, later.
      await new Promise((resolve) => setTimeout(resolve, 1));
      events.end();
      return reply;
    });
    const stop = recordSocketWrites(app.server, writes, (bytes) => ['HTTP/1.1 200', 'event: first'].filter((part) => bytes.includes(part)).join(' + '));
    try {
      await readEvents(app, () => undefined, '/events?first=yes');
      await readEvents(app, () => undefined, '/events');
    } finally {
      stop();
    }
    expect(writes).toEqual(['HTTP/1.1 200 + event: first', '', 'HTTP/1.1 200', '']);
  });

  it('waits for the event loop only on the first flushOnce(); later calls resolve before any I/O or immediate runs', async () => {
    let immediateRanBeforeSecond: boolean | undefined;
    app.get('/events', async (_request, reply) => {
      const events = openEventStream(reply);
      events.send({ event: 'first', data: 'a' });
      await events.flushOnce();
      let immediateRan = false;
      setImmediate(() => (immediateRan = true));
      events.send({ event: 'second', data: 'b' });
      await events.flushOnce();
      immediateRanBeforeSecond = immediateRan;
      events.end();
      return reply;
    });
    await readEvents(app, () => undefined);
    expect(immediateRanBeforeSecond).toBe(false);
  });
});

/** Starts `app` (once), reads its `path` response to the end in this process, handing each chunk to `onData`. */
async function readEvents(app: FastifyInstance, onData: (chunk: string) => void, path = '/events'): Promise<void> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => {
    request({ port, host: '127.0.0.1', path }, (response) => {
      response.setEncoding('utf8');
      response.on('data', onData);
      response.on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
}
