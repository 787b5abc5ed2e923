import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app';

/** Collects the app's log lines as parsed JSON. */
function logSink(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { stream, lines };
}

describe('request logging', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
  });

  function appWithSink(): { app: FastifyInstance; lines: Record<string, unknown>[] } {
    const sink = logSink();
    // /health and the test route never touch the database.
    const built = buildApp({
      database: { backend: 'pglite', db: undefined as never, ping: async () => true, close: async () => undefined },
      logLevel: 'info',
      logStream: sink.stream,
      migrationSets: [],
    });
    built.get('/test/items/:id', async (request) => {
      request.log.info({ headers: request.headers, token: 'dmat_secret' }, 'handler saw the request');
      return { ok: true };
    });
    app = built;
    return { app: built, lines: sink.lines };
  }

  it('writes one line per request with its id, method, route pattern, status and duration', async () => {
    const { app, lines } = appWithSink();
    const response = await app.inject({ method: 'GET', url: '/test/items/42' });
    expect(response.statusCode).toBe(200);
    const requestLines = lines.filter((line) => line.msg === 'request');
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({ method: 'GET', route: '/test/items/:id', status: 200, requestId: response.headers['x-request-id'] });
    expect(requestLines[0]?.durationMs).toEqual(expect.any(Number));
  });

  it('keeps a plain incoming x-request-id and replaces a malformed one', async () => {
    const { app } = appWithSink();
    const kept = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'edge-7f3a' } });
    expect(kept.headers['x-request-id']).toBe('edge-7f3a');
    const replaced = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id\nwith newline' } });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('redacts the authorization and cookie headers and token fields wherever they are logged', async () => {
    const { app, lines } = appWithSink();
    await app.inject({ method: 'GET', url: '/test/items/1', headers: { authorization: 'Bearer dmat_very_secret', cookie: 'session=abc' } });
    const text = JSON.stringify(lines);
    expect(text).not.toContain('dmat_very_secret');
    expect(text).not.toContain('session=abc');
    expect(text).not.toContain('dmat_secret');
    expect(lines.find((line) => line.msg === 'handler saw the request')).toMatchObject({
      headers: { authorization: '[redacted]', cookie: '[redacted]' },
      token: '[redacted]',
    });
  });

  it('answers 404 with its own line, route null', async () => {
    const { app, lines } = appWithSink();
    await app.inject({ method: 'GET', url: '/nowhere' });
    expect(lines.filter((line) => line.msg === 'request')).toEqual([expect.objectContaining({ status: 404, route: null })]);
  });
});

