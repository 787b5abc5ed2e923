import type { MigrationSet } from '@data-machine/agents-api/postgres';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { AppDatabase, AppJobEngine } from './app-database';
import { migrationStates } from '../database/migrate';

/** The body of `GET /ready`. */
export interface ReadinessReport {
  readonly status: 'ok' | 'unavailable';
  readonly database: { readonly backend: AppDatabase['backend']; readonly reachable: boolean };
  readonly migrations: Readonly<Record<string, { readonly applied: number; readonly pending: number }>>;
  /**
   * The job engine: whether its pg-boss schema is installed, and this
   * process's workers: `running`, `stopped`, or `elsewhere` (a `serve`
   * process, whose jobs run in worker processes).
   */
  readonly jobEngine: { readonly installed: boolean; readonly workers: 'running' | 'stopped' | 'elsewhere' };
}

/**
 * `GET /health`: 200 while the process is alive; it touches nothing else, so
 * a slow database never makes a liveness probe restart a working process.
 * `GET /ready`: 200 when the database answers, every migration is applied,
 * the job engine is installed and, in a process that runs workers, they
 * run; 503 with the same report otherwise.
 */
export function registerHealthRoutes(app: FastifyInstance, database: AppDatabase, sets: readonly MigrationSet[], jobEngine: AppJobEngine | undefined): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const reachable = await database.ping();
    const states = reachable ? await migrationStates(database.db, sets) : [];
    const installed = reachable && (await engineInstalled(database, jobEngine?.engine.options.schema ?? 'pgboss'));
    const running = jobEngine?.workersRunning() ?? null;
    const workers = running === null ? 'elsewhere' : running ? 'running' : 'stopped';
    const migrations = Object.fromEntries(states.map((state) => [state.set, { applied: state.applied.length, pending: state.pending.length }]));
    const ready = reachable && states.every((state) => state.pending.length === 0) && installed && workers !== 'stopped';
    const report: ReadinessReport = {
      status: ready ? 'ok' : 'unavailable',
      database: { backend: database.backend, reachable },
      migrations,
      jobEngine: { installed, workers },
    };
    return reply.code(ready ? 200 : 503).send(report);
  });
}

async function engineInstalled(database: AppDatabase, schema: string): Promise<boolean> {
  const found = await sql<{ name: string | null }>`select to_regclass(${`${schema}.version`})::text as name`.execute(database.db);
  return found.rows[0]?.name != null;
}
