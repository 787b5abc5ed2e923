import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AutomationMetrics, MetricsWindow } from 'data-machine';

/** Where `/metrics` reads the automation's state from (the product's `readAutomationMetrics`): the gauges, and what ended in `window` (none without one). */
export interface AutomationMetricsSource {
  read(window: MetricsWindow | undefined): Promise<AutomationMetrics>;
}

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /** The automation's jobs, queues and token usage; without it only HTTP and process metrics are served. */
  readonly automation?: AutomationMetricsSource;
  /** The clock scrape windows are cut by; default `Date.now`. */
  readonly now?: () => Date;
}

/**
 * How far behind now a scrape's window ends: a job or run that ended just
 * before a scrape may still be committing; it is counted by the next one.
 */
export const endedWorkLagMs = 5_000;

/**
 * `GET /metrics` in the Prometheus text format, from a registry of this app's
 * own (never prom-client's global one, so two apps in one process do not
 * share counters): HTTP requests and their durations by method, route pattern
 * and status, the process metrics prom-client collects and, with an
 * automation source, jobs and tokens (see {@link registerAutomationMetrics}).
 */
export function registerMetrics(app: FastifyInstance, options: MetricsOptions = {}): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'dm_http_requests_total', help: 'HTTP requests answered', labelNames, registers: [registry] });
  const durations = new Histogram({
    name: 'dm_http_request_duration_seconds',
    help: 'Time to answer an HTTP request',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL: ids in paths would make a series per request.
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) };
    requests.inc(labels);
    durations.observe(labels, reply.elapsedTime / 1000);
  });
  if (options.automation) registerAutomationMetrics(registry, options.automation, options.now ?? (() => new Date()));
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return registry;
}

/**
 * The automation's series, read from the database at scrape time, so every
 * process (API, worker, scheduler) reports the whole system alike: live jobs
 * by tenant and status and queue entries by tenant and queue (gauges); jobs
 * that ended since the last scrape by tenant and status, their durations,
 * and model tokens by tenant and agent (counters and a histogram, counted
 * from this process's start). Being the same from every process, they are
 * aggregated with `max`, not `sum`. A failed read keeps the last values and
 * counts `dm_metrics_read_failures_total`: a scrape never fails because the
 * database does. See docs/decisions/2026-12-01-automation-metrics.md.
 */
export function registerAutomationMetrics(registry: Registry, source: AutomationMetricsSource, now: () => Date): void {
  let windowStart = new Date(now().getTime() - endedWorkLagMs);
  let inFlight: Promise<void> | null = null;
  // Every series below awaits the same read: one read per scrape, whichever series asks first.
  const refresh = (): Promise<void> => (inFlight ??= read().finally(() => (inFlight = null)));
  const collect = async (): Promise<void> => refresh();

  const liveJobs = new Gauge({ name: 'dm_jobs', help: 'Live jobs (pending, processing, waiting) by tenant and status', labelNames: ['tenant', 'status'] as const, registers: [registry], collect });
  const queueEntries = new Gauge({ name: 'dm_queue_entries', help: 'Queue entries by tenant and queue', labelNames: ['tenant', 'queue'] as const, registers: [registry], collect });
  const endedJobs = new Counter({ name: 'dm_jobs_ended_total', help: 'Jobs that ended, by tenant and status', labelNames: ['tenant', 'status'] as const, registers: [registry], collect });
  const jobDurations = new Histogram({
    name: 'dm_job_duration_seconds',
    help: 'Time from a job start to its end, by status',
    labelNames: ['status'] as const,
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400],
    registers: [registry],
    collect,
  });
  const tokens = new Counter({ name: 'dm_model_tokens_total', help: 'Model tokens of agent runs that ended, by tenant, agent and kind (input, output)', labelNames: ['tenant', 'agent', 'kind'] as const, registers: [registry], collect });
  const failures = new Counter({ name: 'dm_metrics_read_failures_total', help: 'Scrapes whose database read failed (the last values were served)', registers: [registry], collect });

  async function read(): Promise<void> {
    const until = new Date(now().getTime() - endedWorkLagMs);
    try {
      const { gauges, ended } = await source.read(until > windowStart ? { after: windowStart, until } : undefined);
      liveJobs.reset();
      for (const row of gauges.liveJobs) liveJobs.set({ tenant: row.tenant, status: row.status }, row.count);
      queueEntries.reset();
      for (const row of gauges.queueEntries) queueEntries.set({ tenant: row.tenant, queue: row.queue }, row.count);
      for (const job of ended.jobs) {
        endedJobs.inc({ tenant: job.tenant, status: job.status });
        if (job.durationSeconds !== null) jobDurations.observe({ status: job.status }, job.durationSeconds);
      }
      for (const run of ended.runs) {
        tokens.inc({ tenant: run.tenant, agent: run.agent, kind: 'input' }, run.inputTokens);
        tokens.inc({ tenant: run.tenant, agent: run.agent, kind: 'output' }, run.outputTokens);
      }
      if (until > windowStart) windowStart = until;
    } catch {
      failures.inc();
    }
  }
}
