import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultConsoleSessionPolicy } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app';

// No route here reaches the database: one that is never opened.
const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: async () => Promise.reject(new Error('no database in this test')) }) });
const database = { backend: 'postgres' as const, db, ping: async () => false, close: async () => undefined };
const consoleOptions = { secretKey: 'k'.repeat(43), secureCookies: false, policy: defaultConsoleSessionPolicy };

describe('the console served at /', () => {
  let directory: string;
  let app: FastifyInstance;

  beforeAll(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'dm-console-assets-'));
    await mkdir(path.join(directory, 'assets'));
    await writeFile(path.join(directory, 'index.html'), '<!doctype html><title>console</title>');
    await writeFile(path.join(directory, 'assets', 'index-abc123.js'), 'console.log(1)');
    app = buildApp({ database, console: { ...consoleOptions, assetsDir: directory } });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('answers / with the page, revalidated, framed by nobody, under a same-origin content policy', async () => {
    const response = await app.inject({ method: 'GET', url: '/' });
    expect([response.statusCode, response.headers['content-type'], response.headers['cache-control'], response.headers['x-frame-options']]).toEqual([
      200,
      'text/html; charset=utf-8',
      'no-cache',
      'DENY',
    ]);
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
    expect(response.body).toContain('<title>console</title>');
  });

  it('serves hashed assets as immutable, and keeps unknown paths the API 404', async () => {
    const asset = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect([asset.statusCode, asset.headers['cache-control']]).toEqual([200, 'public, max-age=31536000, immutable']);
    const unknown = await app.inject({ method: 'GET', url: '/assets/../index.html.bak' });
    expect(unknown.json().error.code).toBe('route.not_found');
  });

  it('serves nothing at / when the console is not built', async () => {
    const bare = buildApp({ database, console: { ...consoleOptions, assetsDir: path.join(directory, 'missing') } });
    const response = await bare.inject({ method: 'GET', url: '/' });
    expect([response.statusCode, response.json().error.code]).toEqual([404, 'route.not_found']);
    await bare.close();
  });
});
