import type { MigrationSet } from '@data-machine/agents-api/postgres';
import type { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ServerConfig } from '../config/config';
import type { ServerDatabase } from '../database/database';
import { migrationSets as allMigrationSets } from '../database/migrate';
import { toErrorResponse } from './error-response';
import { registerHealthRoutes } from './health-route';
import { registerMetrics } from './metrics';
import { redactedPaths, registerRequestLogging, requestLoggingOptions } from './request-logging';

/** What the HTTP app is built from. */
export interface AppDependencies {
  readonly database: ServerDatabase;
  readonly logLevel?: ServerConfig['logLevel'];
  /** The migrations `/ready` requires; every package's by default. */
  readonly migrationSets?: readonly MigrationSet[];
  /** Where log lines go; standard output by default. */
  readonly logStream?: Writable;
}

/**
 * Builds the HTTP app with every route and the single error handler. Does
 * not listen: tests call `inject`, `main` calls `listen`.
 */
export function buildApp({ database, logLevel = 'silent', migrationSets = allMigrationSets, logStream }: AppDependencies): FastifyInstance {
  const app = Fastify({
    logger: { level: logLevel, redact: { paths: redactedPaths, censor: '[redacted]' }, ...(logStream ? { stream: logStream } : {}) },
    ...requestLoggingOptions(),
  });
  registerRequestLogging(app);
  registerMetrics(app);
  app.setErrorHandler((error, request, reply) => {
    const response = toErrorResponse(error);
    if (response.unexpected) request.log.error({ err: error }, 'request failed');
    return reply.code(response.status).send(response.body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'route.not_found', message: `No route for ${request.method} ${request.url}` } }),
  );
  registerHealthRoutes(app, database, migrationSets);
  return app;
}
