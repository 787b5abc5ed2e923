import { AgentsApiError } from '@data-machine/agents-api';
import type { MigrationSet } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createJobEngine, type JobEngine } from 'data-machine';
import { migrateAll } from '../database/migrate';
import { buildApp, type AppDatabase } from './app';
import { errorStatus } from './error-response';

await describeEachDatabase('http app', (context) => {
  let app: FastifyInstance;
  const database = (): AppDatabase => ({
    backend: context.backend,
    db: context.db,
    ping: async () => (await sql`select 1`.execute(context.db)).rows.length === 1,
    close: async () => undefined,
  });

  beforeAll(async () => {
    await migrateAll(context.db);
    app = buildApp({ database: database() });
    app.get('/test/throws-unexpected', async () => {
      throw new Error('secret internal detail');
    });
    app.get('/test/throws-typed', async () => {
      throw new AgentsApiError('database.migration_failed', 'Migration x failed', { details: { set: 'x' } });
    });
    app.post('/test/echo', async (request) => request.body);
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers /health with 200 while alive, without touching the database', async () => {
    const unreachable = buildApp({ database: { ...database(), ping: async () => false } });
    const response = await unreachable.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('reports ready 200 when the database answers and every migration is applied', async () => {
    const response = await app.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: 'ok',
      database: { backend: context.backend, reachable: true },
      migrations: { agents_api: { applied: expect.any(Number), pending: 0 }, data_machine: { applied: expect.any(Number), pending: 0 } },
      jobEngine: { installed: true, workers: 'elsewhere' },
    });
  });

  /** An engine on the suite's database; never started: readiness reads only its options. */
  const idleEngine = (schema = 'pgboss'): JobEngine =>
    createJobEngine({ schema, database: context.database.pglite !== undefined ? { pglite: context.database.pglite } : { connectionString: context.database.url as string } });

  it('reports ready 503 in a process whose workers have stopped, 200 while they run', async () => {
    let running = false;
    const withWorkers = buildApp({ database: database(), jobEngine: { engine: idleEngine(), workersRunning: () => running } });
    const stopped = await withWorkers.inject({ method: 'GET', url: '/ready' });
    running = true;
    const started = await withWorkers.inject({ method: 'GET', url: '/ready' });
    expect([stopped.statusCode, stopped.json().jobEngine, started.statusCode, started.json().jobEngine]).toEqual([
      503,
      { installed: true, workers: 'stopped' },
      200,
      { installed: true, workers: 'running' },
    ]);
  });

  it('reports ready 503 when the job engine is not installed', async () => {
    const uninstalled = buildApp({ database: database(), jobEngine: { engine: idleEngine('no_such_boss'), workersRunning: () => true } });
    const response = await uninstalled.inject({ method: 'GET', url: '/ready' });
    expect([response.statusCode, response.json().jobEngine]).toEqual([503, { installed: false, workers: 'running' }]);
  });

  it('reports ready 503 while a migration is pending', async () => {
    const pending: MigrationSet = { name: 'pending_pkg', migrations: { '0001_later': { up: async () => undefined } } };
    const unmigrated = buildApp({ database: database(), migrationSets: [pending] });
    const response = await unmigrated.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ status: 'unavailable', migrations: { pending_pkg: { applied: 0, pending: 1 } } });
  });

  it('reports ready 503 when the database does not answer', async () => {
    const unreachable = buildApp({ database: { ...database(), ping: async () => false } });
    const response = await unreachable.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: 'unavailable', database: { backend: context.backend, reachable: false }, migrations: {}, jobEngine: { installed: false, workers: 'elsewhere' } });
  });

  it('answers an unknown route with 404 route.not_found', async () => {
    const response = await app.inject({ method: 'GET', url: '/nowhere' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: { code: 'route.not_found', message: 'No route for GET /nowhere' } });
  });

  it('answers malformed JSON with 400 request.invalid', async () => {
    const response = await app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: '{"a":' });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('request.invalid');
  });

  it('takes a JSON content type without a body as no body, and still refuses a poisoned one', async () => {
    const empty = await app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: '' });
    const poisoned = await app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: '{"__proto__":{"admin":true}}' });
    expect([empty.statusCode, empty.body, poisoned.statusCode, poisoned.json().error.code]).toEqual([200, '', 400, 'request.invalid']);
  });

  it('maps a typed package error through the status table', async () => {
    const response = await app.inject({ method: 'GET', url: '/test/throws-typed' });
    expect(response.statusCode).toBe(errorStatus['database.migration_failed']);
    expect(response.json()).toEqual({ error: { code: 'database.migration_failed', message: 'Migration x failed', details: { set: 'x' } } });
  });

  it('hides an unexpected error behind 500 internal, with no stack or message leaked', async () => {
    const response = await app.inject({ method: 'GET', url: '/test/throws-unexpected' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ error: { code: 'internal', message: 'Internal error' } });
    expect(response.body).not.toContain('secret');
  });
});
