import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import Fastify from 'fastify';
import type { AutomationGauges, EndedWork, MetricsWindow } from 'data-machine';
import { buildApp } from './app';
import { endedWorkLagMs, registerMetrics } from './metrics';

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

  describe('automation series', () => {
    /** A source that answers what each test scripts and records the windows it was asked for. */
    function scriptedSource() {
      const windows: MetricsWindow[] = [];
      const state = { gauges: { liveJobs: [], queueEntries: [] } as AutomationGauges, ended: { jobs: [], runs: [] } as EndedWork, fail: false, reads: 0 };
      return {
        windows,
        state,
        source: {
          read: async (window: MetricsWindow | undefined) => {
            state.reads += 1;
            if (window !== undefined) windows.push(window);
            if (state.fail) throw new Error('database down');
            return { gauges: state.gauges, ended: window === undefined ? { jobs: [], runs: [] } : state.ended };
          },
        },
      };
    }
    async function appWith(scripted: ReturnType<typeof scriptedSource>, clock: { now: Date }) {
      const app = Fastify();
      registerMetrics(app, { automation: scripted.source, now: () => clock.now });
      apps.push(app);
      await app.ready();
      return async () => (await app.inject({ method: 'GET', url: '/metrics' })).body;
    }

    it('serves live jobs, queue entries, ended jobs, their durations and tokens, reading the database once per scrape', async () => {
      const scripted = scriptedSource();
      const clock = { now: new Date('2026-12-01T12:00:00Z') };
      const scrape = await appWith(scripted, clock);
      scripted.state.gauges = {
        liveJobs: [{ tenant: 'acme', status: 'waiting', count: 3 }],
        queueEntries: [{ tenant: 'acme', queue: 'prompt', count: 7 }],
      };
      scripted.state.ended = {
        jobs: [
          { tenant: 'acme', status: 'completed', durationSeconds: 2 },
          { tenant: 'acme', status: 'failed', durationSeconds: null },
        ],
        runs: [{ tenant: 'acme', agent: 'writer', inputTokens: 120, outputTokens: 30 }],
      };
      clock.now = new Date('2026-12-01T12:01:00Z');
      const body = await scrape();
      expect(scripted.state.reads).toBe(1);
      expect(body).toContain('dm_jobs{tenant="acme",status="waiting"} 3');
      expect(body).toContain('dm_queue_entries{tenant="acme",queue="prompt"} 7');
      expect(body).toContain('dm_jobs_ended_total{tenant="acme",status="completed"} 1');
      expect(body).toContain('dm_jobs_ended_total{tenant="acme",status="failed"} 1');
      expect(body).toContain('dm_job_duration_seconds_count{status="completed"} 1');
      expect(body).toContain('dm_model_tokens_total{tenant="acme",agent="writer",kind="input"} 120');
      expect(body).toContain('dm_model_tokens_total{tenant="acme",agent="writer",kind="output"} 30');
    });

    it('counts each ended job once: scrape windows follow each other, ending a few seconds behind now', async () => {
      const scripted = scriptedSource();
      const clock = { now: new Date('2026-12-01T12:00:00Z') };
      const scrape = await appWith(scripted, clock);
      clock.now = new Date('2026-12-01T12:01:00Z');
      await scrape();
      clock.now = new Date('2026-12-01T12:02:00Z');
      scripted.state.ended = { jobs: [{ tenant: 'acme', status: 'completed', durationSeconds: 1 }], runs: [] };
      await scrape();
      scripted.state.ended = { jobs: [], runs: [] };
      clock.now = new Date('2026-12-01T12:03:00Z');
      const body = await scrape();
      const behind = (iso: string) => new Date(new Date(iso).getTime() - endedWorkLagMs);
      expect(scripted.windows).toEqual([
        { after: behind('2026-12-01T12:00:00Z'), until: behind('2026-12-01T12:01:00Z') },
        { after: behind('2026-12-01T12:01:00Z'), until: behind('2026-12-01T12:02:00Z') },
        { after: behind('2026-12-01T12:02:00Z'), until: behind('2026-12-01T12:03:00Z') },
      ]);
      expect(body).toContain('dm_jobs_ended_total{tenant="acme",status="completed"} 1');
    });

    it('answers a scrape when the database read fails: the last values, and a failure counted; the missed window is read next time', async () => {
      const scripted = scriptedSource();
      const clock = { now: new Date('2026-12-01T12:00:00Z') };
      const scrape = await appWith(scripted, clock);
      scripted.state.gauges = { liveJobs: [{ tenant: 'acme', status: 'pending', count: 2 }], queueEntries: [] };
      clock.now = new Date('2026-12-01T12:01:00Z');
      await scrape();
      scripted.state.fail = true;
      clock.now = new Date('2026-12-01T12:02:00Z');
      const failed = await scrape();
      expect(failed).toContain('dm_jobs{tenant="acme",status="pending"} 2');
      expect(failed).toContain('dm_metrics_read_failures_total 1');
      scripted.state.fail = false;
      clock.now = new Date('2026-12-01T12:03:00Z');
      await scrape();
      expect(scripted.windows.at(-1)?.after).toEqual(new Date(new Date('2026-12-01T12:01:00Z').getTime() - endedWorkLagMs));
    });
  });
});
