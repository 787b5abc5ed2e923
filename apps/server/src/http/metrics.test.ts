import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app';

describe('GET /metrics', () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  function newApp(): FastifyInstance {
    // /health and /metrics never touch the database.
    const app = buildApp({ database: { backend: 'pglite', db: undefined as never, ping: async () => true, close: async () => undefined }, migrationSets: [] });
    app.get('/test/items/:id', async () => ({ ok: true }));
    apps.push(app);
    return app;
  }

  it('counts requests by method, route pattern and status, in the Prometheus text format', async () => {
    const app = newApp();
    await app.inject({ method: 'GET', url: '/test/items/1' });
    await app.inject({ method: 'GET', url: '/test/items/2' });
    await app.inject({ method: 'GET', url: '/nowhere' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.body).toContain('dm_http_requests_total{method="GET",route="/test/items/:id",status="200"} 2');
    expect(response.body).toContain('dm_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(response.body).toContain('dm_http_request_duration_seconds_count{method="GET",route="/test/items/:id",status="200"} 2');
    expect(response.body).toContain('process_cpu_user_seconds_total');
  });

  it('keeps each app its own counters', async () => {
    const first = newApp();
    const second = newApp();
    await first.inject({ method: 'GET', url: '/health' });
    const metrics = await second.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).not.toContain('route="/health"');
  });
});
