import type { MigrationSet } from '@data-machine/agents-api/postgres';
import type { FastifyInstance } from 'fastify';
import type { ServerDatabase } from '../database/database';
import { migrationStates } from '../database/migrate';

/** The body of `GET /ready`. */
export interface ReadinessReport {
  readonly status: 'ok' | 'unavailable';
  readonly database: { readonly backend: ServerDatabase['backend']; readonly reachable: boolean };
  readonly migrations: Readonly<Record<string, { readonly applied: number; readonly pending: number }>>;
}

/**
 * `GET /health`: 200 while the process is alive; it touches nothing else, so
 * a slow database never makes a liveness probe restart a working process.
 * `GET /ready`: 200 when the database answers and every migration is applied;
 * 503 with the same report otherwise.
 */
export function registerHealthRoutes(app: FastifyInstance, database: ServerDatabase, sets: readonly MigrationSet[]): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const reachable = await database.ping();
    const states = reachable ? await migrationStates(database.db, sets) : [];
    const migrations = Object.fromEntries(states.map((state) => [state.set, { applied: state.applied.length, pending: state.pending.length }]));
    const ready = reachable && states.every((state) => state.pending.length === 0);
    const report: ReadinessReport = {
      status: ready ? 'ok' : 'unavailable',
      database: { backend: database.backend, reachable },
      migrations,
    };
    return reply.code(ready ? 200 : 503).send(report);
  });
}
