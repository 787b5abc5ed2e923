import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { openEventStream } from './server-sent-events';

describe('server-sent event stream', () => {
  const app = Fastify();
  afterEach(() => app.close());

  it('lets a sent event reach a reader in this process before the work after flush() runs', async () => {
    let received = '';
    let seenAtFlush: string | undefined;
    let seenWithoutFlush: string | undefined;
    app.get('/events', async (_request, reply) => {
      const events = openEventStream(reply);
      events.send({ event: 'first', data: 'a' });
      // The work that would follow synchronously (the rest of a model answer) sees nothing sent yet.
      seenWithoutFlush = received;
      await events.flush();
      seenAtFlush = received;
      events.send({ event: 'second', data: 'b' });
      events.end();
      return reply;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      request({ port, host: '127.0.0.1', path: '/events' }, (response) => {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (received += chunk));
        response.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
    expect(seenWithoutFlush).not.toContain('event: first');
    expect(seenAtFlush).toContain('event: first\ndata: a');
    expect(seenAtFlush).not.toContain('event: second');
    expect(received).toContain('event: second\ndata: b');
  });
});
