import type { MigrationSet } from '@data-machine/agents-api/postgres';
import type { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ServerConfig } from '../config/config';
import type { ServerDatabase } from '../database/database';
import { migrationSets as allMigrationSets } from '../database/migrate';
import { toErrorResponse } from './error-response';
import { createDataMachineContext, type DataMachineContext } from 'data-machine';
import { registerHealthRoutes } from './health-route';
import { registerOpenApi } from './openapi';
import { registerAgentRoutes } from './routes/agent-routes';
import { registerTenantRoutes } from './routes/tenant-routes';
import { registerTokenRoutes } from './routes/token-routes';
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
  /** The product's context; by default one on `database`, logging denials through the app's logger. */
  readonly context?: DataMachineContext;
}

/**
 * Builds the HTTP app with every route and the single error handler. Does
 * not listen: tests call `inject`, `main` calls `listen`.
 */
export function buildApp({ database, logLevel = 'silent', migrationSets = allMigrationSets, logStream, context }: AppDependencies): FastifyInstance {
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
  registerOpenApi(app);
  registerHealthRoutes(app, database, migrationSets);
  const product = context ?? createDataMachineContext({ db: database.db, logger: { warn: (entry, message) => app.log.warn(entry, message) } });
  // Registered as a plugin so the OpenAPI document, loaded first, sees every route.
  void app.register(async (api) => {
    registerTenantRoutes(api, product);
    registerAgentRoutes(api, product);
    registerTokenRoutes(api, product);
  });
  return app;
}
